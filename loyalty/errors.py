"""Loyalty domain errors, each with a stable code and HTTP status for the API error shape."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError, NotFound, ValidationFailed


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    message = _("The loyalty balance is too low for this.")
    http_status = 422


class RedemptionLimitExceeded(DomainError):
    code = "redemption_limit_exceeded"
    message = _("Points can pay only part of this order.")
    http_status = 422


class LoyaltyNotConfigured(DomainError):
    code = "loyalty_not_configured"
    message = _("No loyalty rules are in force.")
    http_status = 422


class RedemptionConflict(Conflict):
    code = "redemption_conflict"
    message = _("Points were already redeemed for this reference with other values.")


class InvalidPoints(ValidationFailed):
    code = "invalid_points"
    message = _("Points must be a whole number other than zero.")


class ReasonRequired(ValidationFailed):
    code = "reason_required"
    message = _("A manual adjustment needs a reason.")


class InvalidRules(ValidationFailed):
    code = "invalid_loyalty_rules"
    message = _("The loyalty rules are not valid.")


class InvalidEarnLines(ValidationFailed):
    code = "invalid_earn_lines"
    message = _("The sale lines to earn points on are not valid.")


class AmbiguousReversal(ValidationFailed):
    code = "reversal_kind_required"
    message = _("This reference has both an earn and a redemption; say which to reverse.")


class CustomerProfileMissing(NotFound):
    code = "customer_profile_missing"
    message = _("This login has no customer profile, so it has no loyalty account.")


# Human messages for the problem codes in InvalidRules' details (the admin form shows them).
RULES_PROBLEM_MESSAGES = {
    "must_not_be_negative": _("Must not be negative."),
    "must_be_positive": _("Must be greater than zero."),
    "must_be_a_percentage": _("Must be a percentage from 0 to 100."),
    "must_be_at_least_1": _("Must be at least 1 day, or empty for points that never expire."),
    "must_not_be_in_the_past": _(
        "Rule changes apply to new sales only: the start cannot be in the past."
    ),
    "tier_name_required": _("Every tier needs a name."),
    "duplicate_tier_name": _("Two tiers have the same name."),
    "duplicate_tier_min_spend": _("Two tiers have the same minimum spend."),
    "tier_out_of_range": _("A minimum spend cannot be negative and a multiplier must be positive."),
}


class HoldNotFound(NotFound):
    code = "hold_not_found"
    message = _("No such points hold at this till.")


class HoldNotOpen(Conflict):
    code = "hold_not_open"
    message = _("This points hold is no longer open.")


class HoldConfirmationUnreachable(DomainError):
    code = "confirmation_unreachable"
    message = _(
        "This many points need the customer's confirmation, but no code can reach them: "
        "hold fewer points or update the customer's contacts."
    )
    http_status = 422


class HoldCodeInvalid(ValidationFailed):
    code = "invalid_code"
    message = _("The confirmation code is wrong.")


class HoldCodeExpired(DomainError):
    code = "code_expired"
    message = _("The confirmation code has expired: release the hold and start again.")
    http_status = 410


class HoldLocked(DomainError):
    code = "hold_locked"
    message = _("Too many wrong codes: the hold was released.")
    http_status = 410


class AdjustmentNotAllowed(DomainError):
    code = "adjustment_not_allowed"
    message = _("Adjusting points by hand needs the permission to do so.")
    http_status = 403


class AdjustmentLimitExceeded(DomainError):
    code = "adjustment_limit_exceeded"
    message = _("This adjustment is above your role's limit: a head-office user must make it.")
    http_status = 403


class InvalidReasonCode(ValidationFailed):
    code = "invalid_reason_code"
    message = _("Choose one of the adjustment reason codes.")
