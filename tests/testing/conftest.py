"""tests/testing: the double's own tests. user_project/ is a separate pytest project (with its own
conftest and Airflow home) that test_testing_your_dags_doc.py runs in a subprocess."""

collect_ignore = ["user_project"]
