"""Returns in the admin: the return windows (head office), the returns (read-only), and the
returns desk where store staff take goods back.

Returns are written only by `returns.services`. The desk finds the order (`order_find`:
its number, a till receipt's UUID, a scanned receipt) or the customer (phone, card,
email) and lists their returnable orders; it previews what a return would do (`plan`,
which writes nothing) and confirms it with `return_create` (source "desk"); customers'
open requests are completed with `return_request_complete` or cancelled. A service's
refusal is shown on the form, never as a server error.

A desk return can be an exchange: new items named by SKU or scanned barcode are priced
by the one quote engine for the order's customer, the return's money pays for them first,
and the preview says what the customer pays or gets back; the confirm hands them to
`return_create` (`exchange=`), which sells them at the receiving store.

Every view checks the Django permission (`returns.add_return` to take returns,
`returns.view_return` to see them) and the store: staff see returns and requests and
receive goods only at the locations they work at (superusers and head office: every
location); the services check the store again. A GET never writes.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from catalog import selectors as catalog_selectors
from core.admin import (
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    StoreScopedAdminMixin,
    error_text,
    require_permission,
    staff_location_ids,
)
from core.errors import DomainError
from customers import selectors as customer_selectors
from inventory import selectors as inventory_selectors
from loyalty import selectors as loyalty_selectors
from orders import selectors as order_selectors
from orders.domain import RETURNABLE
from orders.errors import OrderNotFound
from pricing import selectors as pricing_selectors
from returns import domain, forms, selectors, services
from returns.errors import ExchangePaymentRequired, ReturnNotFound
from returns.models import RefundTender, Return, ReturnLine, ReturnWindow

ADD = "returns.add_return"
VIEW = "returns.view_return"
# How many of a customer's returnable orders the desk lists, newest first.
DESK_ORDER_LIMIT = 50


# --- return windows ----------------------------------------------------------------------


@admin.register(ReturnWindow)
class ReturnWindowAdmin(admin.ModelAdmin):
    """Head office sets how long each category's goods may be returned; a category without
    a window of its own takes its nearest parent's, and without any the default setting.

    Windows are reference data read by `returns.services` when a return is planned; the
    admin's own save writes them (there is no balance or ledger behind a window).
    """

    form = forms.ReturnWindowForm
    list_display = ("category", "days", "note", "updated_at")
    search_fields = ("category__name",)
    list_select_related = ("category",)
    readonly_fields = ("inherited_by", "updated_at")

    def get_fields(self, request, obj=None):
        fields = ["category", "days", "note"]
        return [*fields, "inherited_by", "updated_at"] if obj is not None else fields

    @admin.display(description=_("also applies to"))
    def inherited_by(self, window: ReturnWindow) -> str:
        """Categories below this one that take its window: no window of their own and
        none on a category in between."""
        windows = set(ReturnWindow.objects.values_list("category_id", flat=True))
        inheriting = [
            category_id
            for category_id, chain in catalog_selectors.category_ancestor_map().items()
            if category_id != window.category_id
            and next((c for c in chain if c in windows), None) == window.category_id
        ]
        names = catalog_selectors.category_list().filter(pk__in=inheriting).order_by("name")
        return ", ".join(str(category) for category in names) or "—"

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "subtitle": _(
                "A category without a window of its own takes its parent's; with none above "
                "it either, goods may be returned for %(days)d days."
            )
            % {"days": settings.RETURN_WINDOW_DAYS},
        }
        return super().changelist_view(request, extra_context)


# --- returns (read-only) -----------------------------------------------------------------


class ReturnLineInline(ReadOnlyInline):
    model = ReturnLine
    fields = ("sku", "name", "quantity", "condition", "value", "points_reversed")
    readonly_fields = fields


class RefundTenderInline(ReadOnlyInline):
    model = RefundTender
    verbose_name = _("refund")
    verbose_name_plural = _("refunds")
    fields = (
        "kind",
        "amount",
        "points",
        "currency",
        "status",
        "provider",
        "provider_reference",
        "reason",
        "error",
        "attempts",
        "refunded_at",
    )
    readonly_fields = fields


class RefundStatusFilter(admin.SimpleListFilter):
    """Returns with a card refund still at the provider, or one that failed (staff act)."""

    title = _("refund status")
    parameter_name = "refund"

    def lookups(self, request, model_admin):
        return (
            (RefundTender.State.PENDING, _("a refund pending")),
            (RefundTender.State.FAILED, _("a refund failed")),
        )

    def queryset(self, request, queryset):
        if self.value() in (RefundTender.State.PENDING, RefundTender.State.FAILED):
            return queryset.filter(refunds__status=self.value()).distinct()
        return queryset


@admin.register(Return)
class ReturnAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, admin.ModelAdmin):
    """Returns received (or requested) at the user's stores; the desk takes new ones."""

    list_display = (
        "number",
        "order",
        "status",
        "source",
        "location",
        "reason",
        "value",
        "refund_amount",
        "currency",
        "created_at",
    )
    list_filter = (
        "status",
        "source",
        ("location", admin.RelatedOnlyFieldListFilter),
        "reason",
        RefundStatusFilter,
    )
    search_fields = ("number", "order__number")
    list_select_related = ("order", "location")
    date_hierarchy = "created_at"
    inlines = [ReturnLineInline, RefundTenderInline]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "receipt",
                    "order",
                    "status",
                    "source",
                    "location",
                    "courier_pickup",
                    "reason",
                    "note",
                    "window_override_reason",
                )
            },
        ),
        (
            _("Refund"),
            {
                "fields": (
                    "currency",
                    "value",
                    "refund_amount",
                    "points_returned",
                    "points_reversed",
                    "points_shortfall",
                    "shortfall_deduction",
                    "exchange_order",
                )
            },
        ),
        (
            _("Processing"),
            {"fields": ("processed_by", "terminal", "pos_sale", "created_at", "completed_at")},
        ),
    )
    readonly_fields = ("receipt",)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("desk/", view(self.desk_view), name="returns_return_desk"),
            path(
                "desk/order/<str:number>/",
                view(self.desk_order_view),
                name="returns_return_desk_order",
            ),
            path(
                "desk/request/<str:number>/",
                view(self.desk_request_view),
                name="returns_return_desk_request",
            ),
            path("receipt/<str:number>/", view(self.receipt_view), name="returns_return_receipt"),
            *super().get_urls(),
        ]

    @admin.display(description=_("receipt"))
    def receipt(self, ret: Return):
        url = reverse("admin:returns_return_receipt", args=[ret.number])
        return format_html('<a href="{}">{}</a>', url, _("Printable receipt"))

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_take_returns": request.user.has_perm(ADD)}
        return super().changelist_view(request, extra_context)

    def _context(self, request, title: str, **extra) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            **extra,
        }

    # --- the desk: find the order ---------------------------------------------------------

    def desk_view(self, request):
        """Find an order by receipt or its customer by contact; the store's open requests."""
        require_permission(request, ADD)
        allowed = staff_location_ids(request.user)
        lookup = forms.DeskLookupForm(request.GET or None)
        customer, orders, not_found = None, [], False
        if lookup.is_valid():
            text = lookup.cleaned_data["q"]
            try:
                order = services.order_find(reference=text)
            except OrderNotFound:
                order = None
            if order is not None:
                return redirect("admin:returns_return_desk_order", number=order.number)
            customer = customer_selectors.customer_find(identifier=text)
            if customer is not None:
                orders = list(
                    order_selectors.orders_for_customer(customer=customer)
                    .filter(status__in=RETURNABLE)
                    .select_related("location")[:DESK_ORDER_LIMIT]
                )
            else:
                not_found = True
        requests = selectors.return_list_for_staff(
            location_ids=allowed, status=Return.Status.REQUESTED
        )
        context = self._context(
            request,
            _("Returns desk"),
            lookup=lookup,
            customer=customer,
            orders=orders,
            not_found=not_found,
            requests=requests,
        )
        return TemplateResponse(request, "admin/returns/return/desk.html", context)

    # --- the desk: take a return ----------------------------------------------------------

    def desk_order_view(self, request, number):
        """The order's lines and what is left of each; preview, then confirm the return."""
        require_permission(request, ADD)
        try:
            order = services.order_find(reference=number)
        except OrderNotFound:
            raise Http404(_("No such order.")) from None
        rows = _line_rows(order)
        form = forms.ReturnDeskForm(
            request.POST or None,
            rows=rows,
            user=request.user,
            locations=inventory_selectors.locations_for_staff(user=request.user),
        )
        preview = None
        fingerprint = ""
        if request.method == "POST" and form.is_valid():
            confirmed = request.POST.get("action") == "confirm"
            exchange = form.exchange_input()
            try:
                # The preview is priced again on a confirm: a confirm records only what its
                # preview showed (the same goods, and the new items at the same prices).
                preview = _preview(
                    order=order,
                    lines=form.line_inputs(),
                    refund_to=form.cleaned_data.get("refund_to", ""),
                    exchange=exchange,
                    names=form.exchange_variants,
                )
                fingerprint = form.fingerprint(preview.figures())
                if confirmed and request.POST.get("previewed") == fingerprint:
                    ret = services.return_create(
                        order=order,
                        location=form.cleaned_data["location"],
                        reason=form.cleaned_data["reason"],
                        lines=form.line_inputs(),
                        source=Return.Source.DESK,
                        user=request.user,
                        note=form.cleaned_data["note"],
                        override_reason=form.cleaned_data.get("override_reason", ""),
                        refund_to=form.cleaned_data.get("refund_to", ""),
                        refund_to_reason=form.cleaned_data.get("refund_to_reason", ""),
                        exchange=exchange,
                        staff_location_ids=staff_location_ids(request.user),
                    )
                    return self._done(request, ret)
                if confirmed:
                    form.add_error(None, _changed_since_preview())
                elif preview.exchange and preview.exchange.pays > 0 and not exchange.payment_kind:
                    form.add_error(None, _payment_needed(preview))
            except DomainError as exc:
                form.add_error(None, _service_error(exc))
        context = self._context(
            request,
            _("Return of order %(number)s") % {"number": order.number},
            order=order,
            returnable=order.status in RETURNABLE,
            rows=rows,
            form=form,
            preview=preview,
            fingerprint=fingerprint if preview else "",
        )
        return TemplateResponse(request, "admin/returns/return/desk_order.html", context)

    # --- the desk: a customer's request ---------------------------------------------------

    def desk_request_view(self, request, number):
        """A customer's open request at one of the user's stores: preview and complete with
        the quantities and conditions found, or cancel it."""
        require_permission(request, ADD)
        allowed = staff_location_ids(request.user)
        try:
            ret = selectors.return_get_for_staff(number=number, location_ids=allowed)
        except ReturnNotFound:
            raise Http404(_("No such request at your stores.")) from None
        if ret.status != Return.Status.REQUESTED:
            self.message_user(request, _("%(n)s is not an open request.") % {"n": ret.number})
            return redirect("admin:returns_return_receipt", number=ret.number)
        rows = [
            forms.LineRow(
                key=line.pk,
                sku=line.sku,
                name=line.name,
                bought=line.quantity,
                left=line.quantity,
                unit_price=line.order_line.unit_price,
            )
            for line in ret.lines.select_related("order_line")
        ]
        locations = inventory_selectors.locations_for_staff(user=request.user)
        data = request.POST or None
        form = forms.RequestCompleteForm(
            data,
            rows=rows,
            user=request.user,
            locations=locations,
            initial={
                "location": ret.location_id,
                **{f"qty_{row.key}": row.bought for row in rows},
            },
        )
        preview = None
        action = request.POST.get("action") if request.method == "POST" else None
        if action == "cancel":
            try:
                services.return_request_cancel(ret=ret, user=request.user)
            except DomainError as exc:
                self.message_user(request, error_text(exc), messages.ERROR)
            else:
                self.message_user(request, _("Request %(n)s cancelled.") % {"n": ret.number})
            return redirect("admin:returns_return_desk")
        if action and form.is_valid():
            try:
                if action == "complete" and request.POST.get("previewed") == form.fingerprint():
                    done = services.return_request_complete(
                        ret=ret,
                        user=request.user,
                        lines=form.line_inputs(),
                        location=form.cleaned_data["location"],
                        refund_to=form.cleaned_data.get("refund_to", ""),
                        refund_to_reason=form.cleaned_data.get("refund_to_reason", ""),
                        staff_location_ids=allowed,
                    )
                    return self._done(request, done)
                preview = _preview(
                    order=ret.order,
                    lines=form.line_inputs(),
                    refund_to=form.cleaned_data.get("refund_to", ""),
                    exclude_id=ret.pk,
                    at=ret.created_at,
                )
                if action == "complete":
                    form.add_error(None, _changed_since_preview())
            except DomainError as exc:
                form.add_error(None, _service_error(exc))
        context = self._context(
            request,
            _("Request %(number)s of order %(order)s")
            % {"number": ret.number, "order": ret.order.number},
            ret=ret,
            order=ret.order,
            rows=rows,
            form=form,
            preview=preview,
            fingerprint=form.fingerprint() if preview else "",
        )
        return TemplateResponse(request, "admin/returns/return/desk_request.html", context)

    def _done(self, request, ret: Return):
        self.message_user(
            request,
            _("Return %(n)s recorded: %(amount)s %(currency)s back.")
            % {"n": ret.number, "amount": ret.refund_amount, "currency": ret.currency},
            messages.SUCCESS,
        )
        return redirect("admin:returns_return_receipt", number=ret.number)

    # --- the receipt ----------------------------------------------------------------------

    def receipt_view(self, request, number):
        """A printable receipt: lines, the refund per tender, points back and taken back;
        for an exchange, the new sale's number, lines, total and how it was paid."""
        require_permission(request, VIEW)
        try:
            ret = selectors.return_get_for_staff(
                number=number, location_ids=staff_location_ids(request.user)
            )
        except ReturnNotFound:
            raise Http404(_("No such return at your stores.")) from None
        sale = ret.exchange_order
        context = self._context(
            request,
            _("Return %(number)s") % {"number": ret.number},
            ret=ret,
            lines=list(ret.lines.all()),
            refunds=list(ret.refunds.all()),
            exchange_lines=list(sale.lines.order_by("id")) if sale else [],
            exchange_tenders=list(sale.tenders.order_by("id")) if sale else [],
        )
        return TemplateResponse(request, "admin/returns/return/receipt.html", context)


# --- desk helpers ------------------------------------------------------------------------


def _line_rows(order) -> list[forms.LineRow]:
    """The order's lines with what is left to return: bought less the units of completed
    returns and open requests (as `returns.services` counts them)."""
    _completed, claimed = selectors.units_returned(order=order)
    return [
        forms.LineRow(
            key=line.pk,
            sku=line.sku,
            name=line.name,
            bought=line.quantity,
            left=max(0, line.quantity - (claimed.get(line.pk) or 0)),
            unit_price=line.unit_price,
        )
        for line in order.lines.order_by("id")
    ]


@dataclass
class TenderPart:
    label: str
    amount: Decimal
    points: int = 0


@dataclass
class ExchangeLine:
    """A new item of an exchange as the quote engine prices it."""

    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    line_total: Decimal


@dataclass
class ExchangePreview:
    """The new items, and how their total meets the money of the returned goods."""

    lines: list[ExchangeLine]
    total: Decimal
    credit: Decimal  # the return's money that pays for the new items
    pays: Decimal  # what the customer pays on top
    gets_back: Decimal  # what the customer still gets back as money


@dataclass
class Preview:
    """What the return would do, before anything is written."""

    plan: services.Plan
    parts: list[TenderPart] = field(default_factory=list)
    balance: int | None = None  # the customer's points now; None for a guest
    shortfall: int = 0
    deduction: Decimal = Decimal(0)
    money_back: Decimal = Decimal(0)  # the return's money after the deduction
    exchange: ExchangePreview | None = None

    def figures(self) -> list[str]:
        """What a confirm must find unchanged besides the form: the new items' prices."""
        if self.exchange is None:
            return []
        return [str(line.line_total) for line in self.exchange.lines]


def _exchange_preview(*, order, exchange, money: Decimal, names) -> ExchangePreview | None:
    """The new items priced by the one engine for the order's customer, now (as
    `return_create` prices them); the return's money pays for them first. Raises the
    quote's errors (unknown_sku, variant_inactive, no_price, invalid_quantity)."""
    if exchange is None or not exchange.lines:
        return None
    quote = pricing_selectors.quote(
        [{"sku": sku, "quantity": quantity} for sku, quantity in exchange.lines],
        customer=order.customer_id,
    )
    lines = []
    for line in quote.lines:
        variant = names.get(line.sku)
        name = (variant.name or variant.product.name) if variant is not None else ""
        lines.append(
            ExchangeLine(
                sku=line.sku,
                name=str(name),
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount_total,
                line_total=line.line_total,
            )
        )
    credit = min(money, quote.total)
    return ExchangePreview(
        lines=lines,
        total=quote.total,
        credit=credit,
        pays=quote.total - credit,
        gets_back=money - credit,
    )


def _preview(
    *, order, lines, refund_to: str = "", exclude_id=None, at=None, exchange=None, names=None
) -> Preview:
    """`services.plan` and the shortfall estimate: earned points to take back beyond the
    balance (and the points given back) are kept back from the money at a point's value.
    With `exchange`, the new items priced (`names`: SKU → variant, for their names); their
    total is paid first with the money. Mirrors how `return_create` spreads what money is
    left over the tenders. Raises as `plan` and the quote engine."""
    planned = services.plan(order=order, lines=lines, exclude_id=exclude_id, at=at)
    balance = None
    shortfall = 0
    deduction = Decimal(0)
    if order.customer_id is not None:
        balance = loyalty_selectors.balance_get(customer=order.customer)
        shortfall = max(0, planned.points_reversed - (balance + planned.points_back))
    if shortfall:
        rules = loyalty_selectors.rules_in_force()
        deduction = domain.shortfall_deduction(
            shortfall,
            point_value=rules.redemption_value if rules else Decimal(0),
            limit=planned.money,
            currency=planned.currency,
        )
    money = planned.money - deduction
    swap = _exchange_preview(order=order, exchange=exchange, money=money, names=names or {})
    tenders = {tender.pk: tender for tender in order.tenders.all()}
    parts = [
        TenderPart(_("points"), amount, planned.points_back)
        for room, amount in planned.tender_parts
        if room.kind == "points"
    ]
    left = money
    if swap is not None and swap.credit > 0:
        parts.append(TenderPart(_("the new items (exchange)"), swap.credit))
        left = swap.gets_back
    if refund_to:
        if left > 0:
            parts.append(TenderPart(refund_to.replace("_", " "), left))
    else:
        money_rooms = [
            domain.Room(room.key, room.kind, amount)
            for room, amount in planned.tender_parts
            if room.kind != "points"
        ]
        split, _left = domain.split(left, money_rooms)
        for room, amount in split:
            tender = tenders.get(room.key)
            label = (
                f"{tender.kind} ({tender.provider})"
                if tender is not None and tender.provider
                else room.kind
            )
            if tender is None:
                label = _("cash at the desk")
            parts.append(TenderPart(label, amount))
    return Preview(
        plan=planned,
        parts=parts,
        balance=balance,
        shortfall=shortfall,
        deduction=deduction,
        money_back=money,
        exchange=swap,
    )


def _service_error(exc: DomainError) -> ValidationError:
    """The service's refusal as a form error carrying its code, with the lines it names."""
    text = error_text(exc)
    details = exc.details if isinstance(exc.details, dict) else {}
    named = []
    for line in details.get("lines") or ():
        if isinstance(line, dict) and "closed_at" in line:
            named.append(
                _("%(sku)s: window of %(days)s days closed %(at)s")
                % {"sku": line.get("sku"), "days": line.get("days"), "at": line["closed_at"][:10]}
            )
        elif isinstance(line, dict) and "returnable" in line:
            named.append(
                _("%(sku)s: %(n)s can still be returned")
                % {"sku": line.get("sku"), "n": line.get("returnable")}
            )
        elif isinstance(line, dict) and "code" in line:  # the quote engine's, a new item
            named.append(f"{line.get('sku')}: {line['code']}")
    if details.get("skus"):
        named.append(", ".join(str(sku) for sku in details["skus"]))
    if named:
        text = f"{text} ({'; '.join(str(n) for n in named)})"
    return ValidationError(text, code=exc.code)


def _payment_needed(preview: Preview) -> ValidationError:
    """A dearer exchange without a way to pay the difference: `return_create` would refuse
    it (exchange_payment_required), so the preview says so first."""
    return ValidationError(
        _("The new items cost %(pays)s %(currency)s more: choose how the customer pays it.")
        % {"pays": preview.exchange.pays, "currency": preview.plan.currency},
        code=ExchangePaymentRequired.code,
    )


def _changed_since_preview() -> ValidationError:
    return ValidationError(
        _("Check the preview below, then confirm: the return changed since it was shown."),
        code="preview_required",
    )
