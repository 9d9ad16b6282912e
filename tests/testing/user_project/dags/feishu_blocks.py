"""Yesterday's Feishu workplace block visits, daily (returned through XCom)."""

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceBlockAccessOperator

with DAG("feishu_blocks", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
    FeishuWorkplaceBlockAccessOperator(task_id="blocks")  # connection feishu_default
