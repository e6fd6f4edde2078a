"""Operations: request ids, JSON logs, health and readiness checks, Prometheus metrics.

Nothing here holds business rules. The app is the seam between the domain apps and the
production stack (`make serve`): what an operator, a load balancer or Prometheus needs to
see of a running Omnicore, and nothing a customer or a member of staff uses.
"""
