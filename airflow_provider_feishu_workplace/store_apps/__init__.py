"""Store apps (ISV marketplace apps): the pushed app ticket, the tenants that installed the app, the receiver.

The platform pushes a new ``app_ticket`` to the app's event callback every hour and tells it which tenants
enabled or stopped it; :mod:`.receiver` takes those events (served by the provider's Airflow plugin), and
:mod:`.tickets` and :mod:`.tenants` keep what they say where every worker and the triggerer can read it.
Nothing here is imported at DAG parse time unless a DAG asks for it.
"""
