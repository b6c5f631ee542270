#!/usr/bin/env python3
"""The `aws_asg` scaler end to end: the real daemon against aws_asg_fixture.py, a local stand-in
for the Amazon EC2 Auto Scaling Query API that follows the API Reference (2011-01-01:
DescribeAutoScalingGroups, SetDesiredCapacity, Common Errors) and verifies the Signature Version 4
of every request the way AWS does (hmac/hashlib).

    python3 tests/integration/test_scaler_aws_asg.py --bin build/autoscaler [-k NAME]

The metric is an `exec` source reading a file the test writes (average_value 10: a value of 50
asks for 5 instances). Every test checks that no secret (secret key, session token) reaches the
log or stderr, and that every request the fixture saw was signed correctly unless the test meant
otherwise.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from aws_asg_fixture import AutoScalingFixture  # noqa: E402
from harness import find_key, main, run_cli, test, write_config, yaml_dump  # noqa: E402

KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqw"
GROUP = "web-asg"
INTERVAL_MS = 500


# ---- set-up ------------------------------------------------------------------------------------

def start_fixture(ctx, min=1, max=10, desired=2, **kw) -> AutoScalingFixture:
    fx = AutoScalingFixture(**kw).start()
    ctx.defer(fx.stop)
    fx.add_group(GROUP, min, max, desired)
    return fx


def set_load(ctx, value: float) -> None:
    path = os.path.join(ctx.tmp, "load")
    with open(path + ".tmp", "w") as f:
        f.write(f"{value}\n")
    os.replace(path + ".tmp", path)


def config(ctx, fx, scaler_extra=None, group_extra=None) -> dict:
    scaler = {
        "type": "aws_asg",
        "auto_scaling_group": GROUP,
        "region": "us-east-1",
        "endpoint": fx.url(),
        "timeout": "400ms",
        "retries": 3,
        "backoff": "50ms",
        "backoff_max": "200ms",
    }
    scaler.update(scaler_extra or {})
    group = {
        "interval": f"{INTERVAL_MS}ms",
        "min": 1,
        "max": 10,
        "behavior": "off",
        "metrics": [{"name": "queue", "type": "exec", "command": ["cat", os.path.join(ctx.tmp, "load")],
                     "timeout": "300ms", "average_value": 10}],
        "scaler": scaler,
    }
    group.update(group_extra or {})
    return {"log_file": os.path.join(ctx.tmp, "autoscaler.log"), "log_level": "info",
            "state_dir": "", "groups": {"web": group}}


def keys_env(token=None) -> dict:
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials"}
    if token:
        env["AWS_SESSION_TOKEN"] = token
    return env


def clean_env() -> dict:
    """No AWS variables from the environment running the tests."""
    return {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                            "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
                            "AWS_SHARED_CREDENTIALS_FILE")}


def start(ctx, cfg, env=None, extra=(), decides=True):
    """The daemon, once it made its first decision (decides) or merely started (a test whose
    calls all fail). Each daemon writes a log of its own, so that no wait matches a line of the
    daemon before."""
    e = clean_env()
    e.update(env or {})
    cfg = dict(cfg, log_file=os.path.join(ctx.tmp, f"autoscaler{len(ctx.daemons) + 1}.log"))
    d = ctx.daemon(write_config(ctx.tmp, cfg), extra=extra, log_file=cfg["log_file"], env=e)
    if decides:
        d.wait_decisions(1, timeout=15)
    else:
        d.wait_log(r"engine\[web\]: started", 10)
    return d


def assert_no_secret(d, *secrets) -> None:
    text = d.log_text() + d.stderr() + d.stdout()
    for s in (SECRET, TOKEN) + secrets:
        assert s not in text, f"a secret ({s[:6]}...) reached the log:\n{d.tail()}"


def assert_all_signed(fx) -> None:
    bad = [(r.action, r.status, r.code) for r in fx.calls()
           if r.code in ("SignatureDoesNotMatch", "IncompleteSignature", "InvalidClientTokenId",
                         "MissingAuthenticationToken")]
    assert not bad, f"requests the fixture refused as badly signed: {bad}"


def sets(fx, ok=None) -> list:
    return [int(r.params["DesiredCapacity"]) for r in fx.calls("SetDesiredCapacity", ok)]


# ---- run ---------------------------------------------------------------------------------------

@test
def test_scales_up_and_down(ctx):
    fx = start_fixture(ctx)
    fx.add_key(KEY_ID, SECRET)
    set_load(ctx, 20)
    d = start(ctx, config(ctx, fx), env=keys_env())
    d.wait_decided(3, 10)
    assert fx.desired(GROUP) == 2 and not fx.calls("SetDesiredCapacity"), d.tail()

    set_load(ctx, 50)
    d.wait_until(lambda: fx.desired(GROUP) == 5, 10, "desired 5")
    d.wait_log(r"scaled 2->5 via aws_asg", 5)
    set_load(ctx, 10)
    d.wait_until(lambda: fx.desired(GROUP) == 1, 10, "desired 1")
    d.wait_log(r"scaled 5->1 via aws_asg", 5)
    assert sets(fx) == [5, 1], sets(fx)

    # The calls as the API Reference writes them.
    r = fx.calls("SetDesiredCapacity")[0]
    assert r.method == "POST" and r.params == {
        "Action": "SetDesiredCapacity", "AutoScalingGroupName": GROUP, "DesiredCapacity": "5",
        "HonorCooldown": "false", "Version": "2011-01-01"}, r.params
    assert r.headers["content-type"] == ["application/x-www-form-urlencoded; charset=utf-8"]
    assert "x-amz-security-token" not in r.headers
    q = fx.calls("DescribeAutoScalingGroups")[0]
    assert q.params == {"Action": "DescribeAutoScalingGroups",
                        "AutoScalingGroupNames.member.1": GROUP, "Version": "2011-01-01"}
    assert "SignedHeaders=content-type;host;x-amz-date," in q.headers["authorization"][0]
    assert_all_signed(fx)
    d.stop(signal.SIGTERM)
    assert_no_secret(d)


@test
def test_dry_run_logs_the_call(ctx):
    fx = start_fixture(ctx, desired=2)
    fx.add_key(KEY_ID, SECRET, TOKEN)
    set_load(ctx, 40)
    d = start(ctx, config(ctx, fx), env=keys_env(TOKEN), extra=["--dry-run"])
    m = d.wait_log(r"dry-run: would scale 2->4 via aws_asg: (.*)$", 10)
    assert m.group(1) == (f"POST {fx.url()} Action=SetDesiredCapacity&AutoScalingGroupName="
                          f"{GROUP}&DesiredCapacity=4&HonorCooldown=false&Version=2011-01-01 "
                          f"(SigV4 us-east-1/autoscaling)"), m.group(1)
    time.sleep(3 * INTERVAL_MS / 1000)
    assert not fx.calls("SetDesiredCapacity"), "--dry-run called SetDesiredCapacity"
    assert fx.desired(GROUP) == 2
    assert fx.calls("DescribeAutoScalingGroups", ok=True), "the count was not read"
    assert not d.grep(r"Signature=|Credential="), "the signature reached the log"
    d.stop(signal.SIGTERM)
    assert_no_secret(d)


@test
def test_session_token(ctx):
    fx = start_fixture(ctx)
    fx.add_key(KEY_ID, SECRET, token=TOKEN)
    set_load(ctx, 30)
    d = start(ctx, config(ctx, fx), env=keys_env(TOKEN))
    d.wait_until(lambda: fx.desired(GROUP) == 3, 10, "desired 3")
    r = fx.calls("SetDesiredCapacity", ok=True)[0]
    assert r.headers["x-amz-security-token"] == [TOKEN]
    assert "x-amz-security-token" in r.headers["authorization"][0].split("SignedHeaders=")[1]
    assert_all_signed(fx)
    d.wait_log(r"credentials from environment", 2)
    d.stop(signal.SIGTERM)
    assert_no_secret(d)

    # A token the service does not know: AWS's InvalidClientTokenId, reading the count fails.
    fx.add_key(KEY_ID, SECRET, token=TOKEN + "x")
    d = start(ctx, config(ctx, fx), env=keys_env(TOKEN), decides=False)
    m = d.wait_log(r"reading the replica count via aws_asg failed: (.*)", 10)
    assert ("DescribeAutoScalingGroups: HTTP 403 InvalidClientTokenId: The security token "
            "included in the request is invalid.") in m.group(1), m.group(1)
    d.stop(signal.SIGTERM)
    assert_no_secret(d)


CREDENTIALS = f"""# shared credentials file
[default]
aws_access_key_id = AKIDWRONGDEFAULT
aws_secret_access_key = not-the-secret

[ci]
aws_access_key_id = {KEY_ID}
aws_secret_access_key = {SECRET}
aws_session_token = {TOKEN}

[assumed]
role_arn = arn:aws:iam::123456789012:role/scaler
source_profile = ci
"""


@test
def test_credentials_file_profiles(ctx):
    fx = start_fixture(ctx)
    fx.add_key(KEY_ID, SECRET, token=TOKEN)
    creds = os.path.join(ctx.tmp, "credentials")
    with open(creds, "w") as f:
        f.write(CREDENTIALS)
    set_load(ctx, 30)

    # `profile:` and `credentials_file:` in the configuration.
    cfg = config(ctx, fx, {"profile": "ci", "credentials_file": creds})
    d = start(ctx, cfg, env={"AWS_PROFILE": "default"})
    d.wait_until(lambda: fx.desired(GROUP) == 3, 10, "desired 3")
    d.wait_log(rf"credentials from profile 'ci' of {creds}", 2)
    assert_all_signed(fx)

    # The file is read on every call: new keys are used at once.
    fx.add_key("AKIDROTATED", SECRET + "2")
    with open(creds + ".tmp", "w") as f:
        f.write(CREDENTIALS.replace(f"aws_access_key_id = {KEY_ID}", "aws_access_key_id = AKIDROTATED")
                .replace(f"= {SECRET}\n", f"= {SECRET}2\n")
                .replace(f"aws_session_token = {TOKEN}\n", ""))
    os.replace(creds + ".tmp", creds)
    fx.remove_key(KEY_ID)
    d.wait_log(rf"credentials from profile 'ci' of {creds} \(key id AKIDROTA", 5)
    set_load(ctx, 60)
    d.wait_until(lambda: fx.desired(GROUP) == 6, 10, "desired 6 with the rotated keys")
    d.stop(signal.SIGTERM)
    assert_no_secret(d, SECRET + "2")

    # AWS_PROFILE and AWS_SHARED_CREDENTIALS_FILE from the environment.
    with open(creds, "w") as f:
        f.write(CREDENTIALS)
    fx.add_key(KEY_ID, SECRET, token=TOKEN)
    set_load(ctx, 20)
    d = start(ctx, config(ctx, fx), env={"AWS_PROFILE": "ci", "AWS_SHARED_CREDENTIALS_FILE": creds})
    d.wait_until(lambda: fx.desired(GROUP) == 2, 10, "desired 2")
    d.stop(signal.SIGTERM)
    assert_no_secret(d)

    # A profile that assumes a role: refused at start, saying why.
    cfg = config(ctx, fx, {"profile": "assumed", "credentials_file": creds})
    r = run_cli(ctx.bin, ["run", "--once", "-c", write_config(ctx.tmp, cfg)], env=clean_env())
    assert r.returncode != 0, r.stderr
    assert "profile 'assumed'" in r.stderr and "role_arn" in r.stderr, r.stderr
    # A profile that is not there.
    cfg = config(ctx, fx, {"profile": "nope", "credentials_file": creds})
    r = run_cli(ctx.bin, ["run", "--once", "-c", write_config(ctx.tmp, cfg)], env=clean_env())
    assert r.returncode != 0 and "no profile 'nope'" in r.stderr, r.stderr
    assert SECRET not in r.stderr + r.stdout


@test
def test_keys_by_reference(ctx):
    fx = start_fixture(ctx)
    fx.add_key(KEY_ID, SECRET)
    secret_file = os.path.join(ctx.tmp, "secret")
    with open(secret_file, "w") as f:
        f.write(SECRET + "\n")
    set_load(ctx, 40)
    cfg = config(ctx, fx, {"access_key_id": "${env:ASG_KEY}",
                           "secret_access_key": "${file:" + secret_file + "}"})
    d = start(ctx, cfg, env={"ASG_KEY": KEY_ID})
    d.wait_until(lambda: fx.desired(GROUP) == 4, 10, "desired 4")
    d.wait_log(r"credentials from configuration", 2)
    assert_all_signed(fx)
    d.stop(signal.SIGTERM)
    assert_no_secret(d)


# ---- failures ----------------------------------------------------------------------------------

@test
def test_bad_signature_is_permanent(ctx):
    fx = start_fixture(ctx)
    fx.add_key(KEY_ID, SECRET)
    set_load(ctx, 50)
    env = keys_env()
    env["AWS_SECRET_ACCESS_KEY"] = SECRET[:-1] + "X"      # the wrong secret
    d = start(ctx, config(ctx, fx), env=env, decides=False)
    # (AWS's whole message is longer than the engine's fault line, which cuts it.)
    m = d.wait_log(r"reading the replica count via aws_asg failed: (.*)", 10)
    assert ("DescribeAutoScalingGroups: HTTP 403 SignatureDoesNotMatch: The request signature "
            "we calculated does not match the signature") in m.group(1), m.group(1)
    time.sleep(2 * INTERVAL_MS / 1000)
    assert not d.decisions(), "a decision without a count"
    assert not fx.calls("SetDesiredCapacity") and fx.desired(GROUP) == 2
    d.stop(signal.SIGTERM)
    assert_no_secret(d, env["AWS_SECRET_ACCESS_KEY"])

    # Keys that may describe but not set (an IAM policy): the set fails permanently, once a
    # round, with AWS's message; nothing is retried.
    fx.add_key(KEY_ID, SECRET, describe_only=True)
    d = start(ctx, config(ctx, fx), env=keys_env())
    m = d.wait_log(r"scale 2->5 via aws_asg failed \(attempt 1/4, permanent\): (.*)", 10)
    assert ("SetDesiredCapacity: HTTP 400 AccessDeniedException: User: arn:aws:iam::123456789012:"
            "user/autoscaler is not authorized to perform: autoscaling:SetDesiredCapacity"
            ) in m.group(1), m.group(1)
    d.wait_log(r"giving up on 2->5 until the next round", 5)
    assert not d.grep(r"attempt 2/4"), "a permanent failure was retried"
    d.stop(signal.SIGTERM)
    assert_no_secret(d)


@test
def test_transient_errors_are_retried(ctx):
    fx = start_fixture(ctx)
    fx.add_key(KEY_ID, SECRET)
    set_load(ctx, 20)
    d = start(ctx, config(ctx, fx), env=keys_env())
    d.wait_decided(2, 10)
    for mode, code in (("throttle", "Throttling"), ("throttle_doc", "ThrottlingException"),
                       ("in_progress", "ScalingActivityInProgress"),
                       ("contention", "ResourceContention"), ("unavailable", "ServiceUnavailable"),
                       ("html503", None)):
        want = fx.desired(GROUP) + 1
        fx.fault("SetDesiredCapacity", mode, count=2)
        mark = d.mark()
        set_load(ctx, want * 10)
        d.wait_until(lambda: fx.desired(GROUP) == want, 10, f"desired {want} after {mode}")
        fails = d.grep(r"via aws_asg failed \(attempt (\d)/4\): (.*)", mark)
        assert [f.group(1) for f in fails] == ["1", "2"], (mode, [f.group(0) for f in fails])
        if code:
            assert f"SetDesiredCapacity: HTTP " in fails[0].group(2) and code in fails[0].group(2)
        else:
            assert "HTTP 503: <html>" in fails[0].group(2), fails[0].group(2)
        d.wait_log(rf"scaled {want - 1}->{want} via aws_asg", 5, mark)
        # Backed off between the attempts (backoff 50ms, equal jitter: at least 25ms).
        t = [r.t for r in fx.calls("SetDesiredCapacity") if r.params["DesiredCapacity"] == str(want)]
        assert len(t) == 3 and min(b - a for a, b in zip(t, t[1:])) >= 0.024, (mode, t)
    # Throttled reads hold the group, then it carries on.
    fx.fault("DescribeAutoScalingGroups", "throttle", count=2)
    mark = d.mark()
    d.wait_log(r"reading the replica count via aws_asg failed: DescribeAutoScalingGroups: HTTP "
               r"400 Throttling: Rate exceeded", 5, mark)
    d.wait_log(r"replica count .* trusted|decision current=", 5, mark)
    assert_all_signed(fx)
    d.stop(signal.SIGTERM)
    assert_no_secret(d)


@test
def test_timeouts(ctx):
    fx = start_fixture(ctx, hang_s=2.0)
    fx.add_key(KEY_ID, SECRET)
    set_load(ctx, 20)
    d = start(ctx, config(ctx, fx), env=keys_env())
    d.wait_decided(2, 10)
    # A hung set is not applied: it times out, the count is re-read, the retry lands.
    fx.fault("SetDesiredCapacity", "hang", count=1)
    mark = d.mark()
    set_load(ctx, 40)
    d.wait_until(lambda: fx.desired(GROUP) == 4, 10, "desired 4")
    m = d.wait_log(r"scale 2->4 via aws_asg failed \(attempt 1/4\): (.*)", 2, mark)
    assert "timeout after" in m.group(1), m.group(1)
    # The retry's read back is a DescribeAutoScalingGroups too: the next fault is for a round's.
    d.wait_log(r"scaled 2->4 via aws_asg", 5, mark)
    # A hung read: no decision that round, no scale.
    fx.fault("DescribeAutoScalingGroups", "hang", count=1)
    mark = d.mark()
    set_load(ctx, 10)
    m = d.wait_log(r"reading the replica count via aws_asg failed: (.*)", 5, mark)
    assert "timeout after" in m.group(1) or "deadline" in m.group(1), m.group(1)
    d.wait_until(lambda: fx.desired(GROUP) == 1, 10, "desired 1 once reads work again")
    d.stop(signal.SIGTERM)
    assert_no_secret(d)


@test
def test_garbage_answers(ctx):
    fx = start_fixture(ctx, desired=5)
    fx.add_key(KEY_ID, SECRET)
    set_load(ctx, 50)
    # debug: the decision after each fault is the same as before it, a line at debug only
    d = start(ctx, dict(config(ctx, fx), log_level="debug"), env=keys_env())
    d.wait_decided(2, 10)
    # Reads that are not the documented answer never let the group scale (load 10 asks for 1).
    for mode, why in (("garbage", "XML:"), ("wrongtype", "DesiredCapacity is not a whole number"),
                      ("notfound", "no Auto Scaling group named 'web-asg' in us-east-1"),
                      ("huge", "response body larger than the limit"),
                      ("doctype", "a DOCTYPE or declaration (refused)")):
        fx.fault("DescribeAutoScalingGroups", mode)
        mark = d.mark()
        set_load(ctx, 10)
        m = d.wait_log(r"reading the replica count via aws_asg failed: (.*): no decision", 5, mark)
        assert why in m.group(1), (mode, m.group(1))
        time.sleep(2 * INTERVAL_MS / 1000)
        assert not fx.calls("SetDesiredCapacity") and fx.desired(GROUP) == 5, mode
        # The load back to 5 before reads work again (else a round could scale down on it).
        set_load(ctx, 50)
        time.sleep(2 * INTERVAL_MS / 1000)
        fx.clear()
        d.wait_log(r"decision current=5 desired=5", 5, d.mark())
    # A set answered 200 with garbage, though applied: the count is re-read before a retry,
    # and the change is not made twice.
    fx.fault("SetDesiredCapacity", "landed_garbage", count=1)
    mark = d.mark()
    set_load(ctx, 70)
    d.wait_log(r"scaled 5->7 via aws_asg .*\(the earlier attempt landed\)", 10, mark)
    assert sets(fx) == [7], sets(fx)
    d.stop(signal.SIGTERM)
    assert_no_secret(d)


@test
def test_outside_the_groups_bounds(ctx):
    fx = start_fixture(ctx, min=2, max=4, desired=3)
    fx.add_key(KEY_ID, SECRET)
    set_load(ctx, 80)                                   # asks for 8; the group's MaxSize is 4
    d = start(ctx, config(ctx, fx), env=keys_env(), extra=["--dry-run"])
    m = d.wait_log(r"dry-run: would scale 3->8 via aws_asg: (.*)", 10)
    assert m.group(1).endswith("AWS would refuse it, 8 is above the group's MaxSize 4"), m.group(1)
    d.stop(signal.SIGTERM)
    d = start(ctx, config(ctx, fx), env=keys_env())
    m = d.wait_log(r"scale 3->8 via aws_asg failed \(attempt 1/4, permanent\): (.*)", 10)
    assert "desired capacity 8 is above the group's MaxSize 4: AWS refuses it" in m.group(1)
    set_load(ctx, 10)                                   # asks for 1; MinSize is 2
    m = d.wait_log(r"scale 3->1 via aws_asg failed \(attempt 1/4, permanent\): (.*)", 10)
    assert "1 is below the group's MinSize 2" in m.group(1), m.group(1)
    assert not fx.calls("SetDesiredCapacity"), "a count AWS refuses was sent"
    d.stop(signal.SIGTERM)
    assert_no_secret(d)


@test
def test_check_errors(ctx):
    fx = start_fixture(ctx)
    cases = [
        ({"region": None}, None, "'region' is required (or set AWS_REGION)"),
        ({"region": "US East"}, "region", "'region' must be a region code"),
        ({"endpoint": "ftp://x/"}, "endpoint", "must start with http:// or https://"),
        ({"endpoint": "https://u:p@x/"}, "endpoint", "without a query, a fragment or user info"),
        ({"access_key_id": "AKID"}, "access_key_id", "go together"),
        ({"session_token": "${env:T}"}, "session_token", "needs 'access_key_id'"),
        ({"access_key_id": "AKID", "secret_access_key": "${env:S}", "profile": "ci"}, "profile",
         "either keys or a profile"),
        ({"auto_scaling_group": "x" * 256}, "auto_scaling_group", "longer than 255"),
    ]
    for extra, key, msg in cases:
        cfg = config(ctx, fx, extra)
        cfg["groups"]["web"]["scaler"] = {k: v for k, v in cfg["groups"]["web"]["scaler"].items()
                                         if v is not None}
        text = yaml_dump(cfg)
        path = write_config(ctx.tmp, text, "check.yaml")
        r = run_cli(ctx.bin, ["check", "-c", path], env=dict(clean_env(), T="tok", S="sec"))
        assert r.returncode != 0 and msg in r.stderr, (extra, r.stderr)
        if key is not None:
            line, col = find_key(text, key)
            assert f"check.yaml:{line}:{col + len(key) + 2}:" in r.stderr, (extra, r.stderr)
    # The region from the environment.
    cfg = config(ctx, fx, {"region": None})
    cfg["groups"]["web"]["scaler"].pop("region")
    r = run_cli(ctx.bin, ["check", "-c", write_config(ctx.tmp, cfg, "ok.yaml")],
                env=dict(clean_env(), AWS_REGION="eu-west-1"))
    assert r.returncode == 0, r.stderr


if __name__ == "__main__":
    sys.exit(main())
