import pendulum
from feishu_blocks import dag


def test_feishu_blocks_pulls_yesterday_through_a_rate_limit(feishu_connection, feishu_double):
    yesterday = pendulum.yesterday("UTC").to_date_string()
    feishu_double.inject("rate_limit")  # the first search answers HTTP 429: the hook waits and retries
    run = dag.test()
    assert run.state == "success"
    assert [call.status for call in feishu_double.calls("block")] == [429, 200]
    assert feishu_double.calls("block")[-1].query["from_date"] == yesterday
