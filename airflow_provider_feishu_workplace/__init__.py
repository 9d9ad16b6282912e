"""Apache Airflow provider for Feishu (Lark) Workplace access data."""

# Airflow imports this package during provider discovery: keep it free of imports.
__version__ = "0.2.0"
