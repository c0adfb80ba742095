"""The storefront's routes, one module per area; each exports ROUTES."""
