"""The ALB-style load balancer: typed configuration (``model``), pure request routing (``routing``), the
asyncio data plane with health checks (``proxy``)."""
