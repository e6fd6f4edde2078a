"""Pricing: the price book, promotions, coupons and the one quote engine every channel calls."""
