-- One database per service (and one for the gateway): no service reads another's store.
CREATE DATABASE crm_gateway;
CREATE DATABASE crm_leads;
CREATE DATABASE crm_customers;
CREATE DATABASE crm_sales;
CREATE DATABASE crm_service_desk;
CREATE DATABASE crm_analytics;
