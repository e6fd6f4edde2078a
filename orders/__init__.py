"""Orders: carts, checkout, orders, tenders, fulfilment (delivery and pickup), returns."""
