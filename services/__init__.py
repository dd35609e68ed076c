"""The platform's five services, each ``name -> "module:ServiceClass"`` (what
``python -m crmkit.runner`` runs)."""

SERVICES = {
    "leads": "services.leads.service:LeadsService",
    "customers": "services.customers.service:CustomersService",
    "sales": "services.sales.service:SalesService",
    "service_desk": "services.service_desk.service:ServiceDeskService",
    "analytics": "services.analytics.service:AnalyticsService",
}
