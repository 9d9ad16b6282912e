from airflow_provider_feishu_workplace.hooks.feishu import FeishuHook
from airflow_provider_feishu_workplace.notifications import FeishuNotifier
from airflow_provider_feishu_workplace.testing import PlatformError, page_of

USERS = [{"open_id": f"ou_{n}", "name": f"User {n}"} for n in range(5)]


def find_user(request):
    user = next((user for user in USERS if user["open_id"] == request.path_params["user_id"]), None)
    if user is None:
        raise PlatformError(41050, "no user authority error")  # answered as the platform does: HTTP 400
    return {"user": user}  # the answer's data


def test_a_user_lookup_and_a_paged_list(feishu_connection, feishu_double):
    feishu_double.add_route("GET", "/open-apis/contact/v3/users/{user_id}", find_user)
    feishu_double.add_route("GET", "/open-apis/contact/v3/users", lambda request: page_of(USERS, request))
    hook = FeishuHook()
    assert hook.call("GET", "/open-apis/contact/v3/users/ou_3") == {"user": USERS[3]}
    assert list(hook.paginate("/open-apis/contact/v3/users", page_size=2)) == USERS
    assert feishu_double.count("GET /open-apis/contact/v3/users") == 3  # pages of 2, 2 and 1


def test_a_failure_alert_reaches_the_chat(feishu_connection, feishu_double):
    FeishuNotifier(chat_id="oc_double_alerts", text="{{ task_id }} failed")({"dag": None, "task_id": "blocks"})
    (message,) = feishu_double.sent_messages
    assert (message.receive_id, message.msg_type, message.content) == (
        "oc_double_alerts",
        "text",
        {"text": "blocks failed"},
    )
