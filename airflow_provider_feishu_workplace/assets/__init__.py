"""URI handlers for the provider's assets, which Airflow loads through provider info's ``asset-uris``."""
