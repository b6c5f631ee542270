#!/usr/bin/env python3
"""A local stand-in for the Amazon EC2 Auto Scaling Query API, for the `aws_asg` scaler's tests.

Standard library only; binds to 127.0.0.1. It follows these documents (AWS, retrieved for this
fixture; paths, parameters, answers and error shapes are theirs):

  Amazon EC2 Auto Scaling API Reference, API version 2011-01-01
    DescribeAutoScalingGroups  https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeAutoScalingGroups.html
    SetDesiredCapacity         https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetDesiredCapacity.html
    Common Errors              https://docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonErrors.html
    Common Parameters          https://docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonParameters.html
  AWS Signature Version 4 for API requests (IAM User Guide, "Create a signed AWS API request")
    https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html

What it does, as AWS does:
  - Takes the Query API at path "/": POST with an application/x-www-form-urlencoded body (or
    GET with a query string); Action and Version=2011-01-01 required.
  - Verifies the SigV4 signature of every request with hmac/hashlib: the Authorization header's
    form, a known access key id (else 403 InvalidClientTokenId), the session token of temporary
    keys (X-Amz-Security-Token, else 403 InvalidClientTokenId), X-Amz-Date within 15 minutes
    (else 403 SignatureDoesNotMatch "Signature expired"), the credential scope (date, region,
    service "autoscaling"), host among the signed headers, then the canonical request rebuilt
    from the bytes received and the signature compared (else 403 SignatureDoesNotMatch with
    AWS's message). Stricter than AWS in one point, on purpose: a session token must be signed.
  - DescribeAutoScalingGroups with AutoScalingGroupNames.member.N: the documented answer, an
    empty AutoScalingGroups for a name that does not exist.
  - SetDesiredCapacity: AutoScalingGroupName, DesiredCapacity, HonorCooldown; 400 ValidationError
    for a missing parameter, an unknown group, or a capacity outside MinSize..MaxSize (AWS's
    wording); 400 ScalingActivityInProgress when HonorCooldown=true inside the cooldown.
  - Errors as <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>.
  - Keys may be limited to Describe* (AccessDeniedException, HTTP 400, as Common Errors lists
    it, with the wording of an IAM denial) on SetDesiredCapacity, as an IAM policy does.

Test controls (Python, same process): add_group(), add_key(), fault(action, mode, count), the
request log (`requests`), state of the groups. Fault modes (FAULTS): throttle (400 Throttling,
"Rate exceeded", the code the Query API sends), throttle_doc (400 ThrottlingException, the code
Common Errors lists), in_progress (400 ScalingActivityInProgress), contention (500
ResourceContention), internal (500 InternalFailure), unavailable (503 ServiceUnavailable), html503
(503 with an HTML page, no AWS document), hang (no answer for hang_s seconds; a SetDesiredCapacity
is not applied), garbage (200 with bytes that are not XML), wrongtype (200, DesiredCapacity "two"),
notfound (Describe answers no group), landed_garbage (SetDesiredCapacity applied, answered 200 with
garbage), huge (200, the documented answer padded with tags to HUGE_BYTES), doctype (200, the
answer behind a DOCTYPE that defines an entity, the "billion laughs" shape).
"""

import calendar
import hashlib
import hmac
import re
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

HOST = "127.0.0.1"
VERSION = "2011-01-01"
SERVICE = "autoscaling"
XMLNS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
MAX_BODY = 64 * 1024

FAULTS = ("throttle", "throttle_doc", "in_progress", "contention", "internal", "unavailable",
          "html503", "hang", "garbage", "wrongtype", "notfound", "landed_garbage", "huge", "doctype")
HUGE_BYTES = 9 * 1024 * 1024   # above the scaler's 8 MiB limit for a DescribeAutoScalingGroups answer

SIG_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service "
                "documentation for details.")
BAD_TOKEN = "The security token included in the request is invalid."

AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/, ]+)/(\d{8})/([^/, ]+)/([^/, ]+)/"
                     r"aws4_request, ?SignedHeaders=([a-z0-9;._-]+), ?Signature=([0-9a-f]{64})")


class AwsError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "Sender"):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.kind = status, code, message, kind


# ---- SigV4, the server's side ------------------------------------------------------------------

def uri_encode(s: str, keep_slash: bool = False) -> str:
    return urllib.parse.quote(s, safe="-_.~" + ("/" if keep_slash else ""))


def canonical_uri(raw_path: str) -> str:
    """AWS's rule for services other than S3: the path normalised, each segment of the path as
    received (percent-encoded) encoded again."""
    segs = []
    for seg in raw_path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segs:
                segs.pop()
            continue
        segs.append(seg)
    trailing = raw_path.endswith("/") and segs
    return "/" + "/".join(uri_encode(s) for s in segs) + ("/" if trailing else "")


def canonical_query(raw_query: str) -> str:
    pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
    enc = sorted((uri_encode(k), uri_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in enc)


def trimall(v: str) -> str:
    return " ".join(v.split())


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


@dataclass
class Key:
    secret: str
    token: Optional[str] = None
    describe_only: bool = False
    user: str = "arn:aws:iam::123456789012:user/autoscaler"


@dataclass
class Group:
    name: str
    min: int
    max: int
    desired: int
    cooldown_s: float = 300.0
    pending_s: float = 0.5
    instances: list = field(default_factory=list)  # [id, launched_at, lifecycle, health]
    last_activity: float = 0.0
    next_id: int = 0


@dataclass
class Request:
    t: float
    method: str
    action: Optional[str]
    params: dict
    headers: dict          # lower-cased name -> list of values
    body: bytes
    status: int = 0
    code: Optional[str] = None   # error code answered, None on success


class AutoScalingFixture:
    """The fake service. start() runs it in a thread; stop() ends it."""

    def __init__(self, region: str = "us-east-1", hang_s: float = 3.0):
        self.region = region
        self.hang_s = hang_s
        self.lock = threading.Lock()
        self.keys = {}
        self.groups = {}
        self.faults = {}      # action -> [mode, remaining or None]
        self.requests = []
        self.server = None
        self.thread = None
        self.port = None
        self.release = threading.Event()

    # -- setup --

    def add_key(self, key_id: str, secret: str, token: Optional[str] = None,
                describe_only: bool = False) -> None:
        with self.lock:
            self.keys[key_id] = Key(secret, token, describe_only)

    def remove_key(self, key_id: str) -> None:
        with self.lock:
            self.keys.pop(key_id, None)

    def add_group(self, name: str, min: int, max: int, desired: int, **kw) -> Group:
        with self.lock:
            g = Group(name, min, max, desired, **kw)
            self._resize(g, desired, at=time.time() - 3600)
            self.groups[name] = g
            return g

    def fault(self, action: str, mode: str, count: Optional[int] = None) -> None:
        assert mode in FAULTS, mode
        with self.lock:
            self.faults[action] = [mode, count]

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def desired(self, name: str) -> int:
        with self.lock:
            return self.groups[name].desired

    def set_desired(self, name: str, n: int) -> None:
        """An outside change (the console, another tool)."""
        with self.lock:
            self._resize(self.groups[name], n, at=time.time())

    def calls(self, action: Optional[str] = None, ok: Optional[bool] = None) -> list:
        with self.lock:
            return [r for r in self.requests if (action is None or r.action == action)
                    and (ok is None or (r.code is None) == ok)]

    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> "AutoScalingFixture":
        fx = self

        class Handler(_Handler):
            fixture = fx

        self.server = _Server((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # -- the service --

    def _resize(self, g: Group, n: int, at: float) -> None:
        while len(g.instances) > n:
            g.instances.pop()                   # the newest first
        while len(g.instances) < n:
            g.next_id += 1
            g.instances.append([f"i-{g.next_id:017x}", at])
        g.desired = n

    def _take_fault(self, action: str) -> Optional[str]:
        f = self.faults.get(action)
        if not f:
            return None
        mode, left = f
        if left is not None:
            f[1] = left - 1
            if f[1] <= 0:
                del self.faults[action]
        return mode

    def verify(self, method: str, raw_path: str, raw_query: str, headers: dict,
               body: bytes) -> Key:
        """The SigV4 check; raises AwsError as AWS answers."""
        auth = headers.get("authorization")
        if not auth:
            raise AwsError(403, "MissingAuthenticationToken",
                           "Request is missing Authentication Token")
        m = AUTH_RE.fullmatch(auth[0])
        if not m:
            raise AwsError(400, "IncompleteSignature",
                           f"Authorization header requires 'Credential', 'Signature' and "
                           f"'SignedHeaders' parameters. Authorization={auth[0][:40]}")
        key_id, sdate, region, service, signed, sig = m.groups()
        key = self.keys.get(key_id)
        if key is None:
            raise AwsError(403, "InvalidClientTokenId", BAD_TOKEN)
        token = headers.get("x-amz-security-token", [None])[0]
        if key.token != token:
            raise AwsError(403, "InvalidClientTokenId", BAD_TOKEN)
        amz = headers.get("x-amz-date", [None])[0]
        if amz is None or not re.fullmatch(r"\d{8}T\d{6}Z", amz):
            raise AwsError(400, "IncompleteSignature", "Authorization header requires existence "
                           "of either a 'X-Amz-Date' or a 'Date' header.")
        t = calendar.timegm(time.strptime(amz, "%Y%m%dT%H%M%SZ"))
        if abs(time.time() - t) > 15 * 60:
            raise AwsError(403, "SignatureDoesNotMatch", f"Signature expired: {amz} is now "
                           f"earlier or later than 15 minutes from the service's time.")
        if sdate != amz[:8]:
            raise AwsError(403, "SignatureDoesNotMatch", f"Date in Credential scope does not "
                           f"match YYYYMMDD from ISO-8601 version of date from HTTP: "
                           f"'{sdate}' != '{amz[:8]}', from '{amz}'.")
        if region != self.region:
            raise AwsError(403, "SignatureDoesNotMatch", f"Credential should be scoped to a "
                           f"valid region, not '{region}'. ")
        if service != SERVICE:
            raise AwsError(403, "SignatureDoesNotMatch", f"Credential should be scoped to "
                           f"correct service: '{SERVICE}'. ")
        names = signed.split(";")
        if "host" not in names:
            raise AwsError(400, "IncompleteSignature", "'Host' or ':authority' must be a "
                           "'SignedHeader' in the AWS Authorization.")
        if token is not None and "x-amz-security-token" not in names:
            raise AwsError(400, "IncompleteSignature", "X-Amz-Security-Token must be signed "
                           "(this fixture's own rule)")
        if names != sorted(set(names)) or any(n not in headers for n in names):
            raise AwsError(403, "SignatureDoesNotMatch", SIG_MISMATCH)
        canon_headers = "".join(f"{n}:{','.join(trimall(v) for v in headers[n])}\n"
                                for n in names)
        creq = "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query),
                          canon_headers, signed, hashlib.sha256(body).hexdigest()])
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, f"{sdate}/{region}/{service}/aws4_request",
                         hashlib.sha256(creq.encode()).hexdigest()])
        want = hmac.new(signing_key(key.secret, sdate, region, service), sts.encode(),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            raise AwsError(403, "SignatureDoesNotMatch", SIG_MISMATCH)
        return key

    def handle(self, action: str, params: dict, key: Key):
        """Returns (status, xml body) or raises AwsError; called with the lock held."""
        if params.get("Version") != VERSION:
            raise AwsError(400, "InvalidAction", f"Could not find operation {action} for "
                           f"version {params.get('Version')}")
        if action == "DescribeAutoScalingGroups":
            return self._describe(params)
        if action == "SetDesiredCapacity":
            if key.describe_only:
                raise AwsError(400, "AccessDeniedException", f"User: {key.user} is not authorized to "
                               f"perform: autoscaling:SetDesiredCapacity because no "
                               f"identity-based policy allows the "
                               f"autoscaling:SetDesiredCapacity action")
            return self._set(params)
        raise AwsError(400, "InvalidAction", f"Could not find operation {action} for version "
                       f"{VERSION}")

    def _describe(self, params: dict):
        names = [v for k, v in sorted(params.items()) if k.startswith("AutoScalingGroupNames.member.")]
        now = time.time()
        members = "".join(self._group_xml(self.groups[n], now) for n in names if n in self.groups)
        return 200, (f'<DescribeAutoScalingGroupsResponse xmlns="{XMLNS}">\n'
                     f'  <DescribeAutoScalingGroupsResult>\n'
                     f'    <AutoScalingGroups>{members}</AutoScalingGroups>\n'
                     f'  </DescribeAutoScalingGroupsResult>\n'
                     f'  <ResponseMetadata>\n    <RequestId>{uuid.uuid4()}</RequestId>\n'
                     f'  </ResponseMetadata>\n</DescribeAutoScalingGroupsResponse>\n')

    def _group_xml(self, g: Group, now: float, desired: Optional[str] = None) -> str:
        inst = "".join(
            f"""
          <member>
            <ProtectedFromScaleIn>false</ProtectedFromScaleIn>
            <AvailabilityZone>{self.region}a</AvailabilityZone>
            <LaunchTemplate />
            <InstanceId>{iid}</InstanceId>
            <InstanceType>t3.micro</InstanceType>
            <HealthStatus>Healthy</HealthStatus>
            <LifecycleState>{"InService" if now - at >= g.pending_s else "Pending"}</LifecycleState>
            <WeightedCapacity />
          </member>""" for iid, at in g.instances)
        name = xml_escape(g.name)
        return f"""
      <member>
        <AutoScalingGroupName>{name}</AutoScalingGroupName>
        <AutoScalingGroupARN>arn:aws:autoscaling:{self.region}:123456789012:autoScalingGroup:12345678-1234-1234-1234-123456789012:autoScalingGroupName/{name}</AutoScalingGroupARN>
        <LaunchTemplate />
        <MixedInstancesPolicy />
        <MinSize>{g.min}</MinSize>
        <MaxSize>{g.max}</MaxSize>
        <DesiredCapacity>{desired if desired is not None else g.desired}</DesiredCapacity>
        <DefaultCooldown>{int(g.cooldown_s)}</DefaultCooldown>
        <AvailabilityZones>
          <member>{self.region}a</member>
          <member>{self.region}b</member>
        </AvailabilityZones>
        <LoadBalancerNames />
        <TargetGroupARNs />
        <HealthCheckType>EC2</HealthCheckType>
        <HealthCheckGracePeriod>300</HealthCheckGracePeriod>
        <Instances>{inst}
        </Instances>
        <CreatedTime>2023-05-06T17:47:15.107Z</CreatedTime>
        <SuspendedProcesses />
        <EnabledMetrics />
        <Tags>
          <member>
            <ResourceId>{name}</ResourceId>
            <PropagateAtLaunch>true</PropagateAtLaunch>
            <Value>test</Value>
            <Key>environment</Key>
            <ResourceType>auto-scaling-group</ResourceType>
          </member>
        </Tags>
        <TerminationPolicies>
          <member>Default</member>
        </TerminationPolicies>
        <NewInstancesProtectedFromScaleIn>false</NewInstancesProtectedFromScaleIn>
      </member>"""

    def _set(self, params: dict):
        name = params.get("AutoScalingGroupName")
        n = params.get("DesiredCapacity")
        if name is None or n is None:
            missing = "autoScalingGroupName" if name is None else "desiredCapacity"
            raise AwsError(400, "ValidationError", f"1 validation error detected: Value null at "
                           f"'{missing}' failed to satisfy constraint: Member must not be null")
        if not re.fullmatch(r"-?\d+", n):
            raise AwsError(400, "ValidationError", f"Invalid value '{n}' for DesiredCapacity")
        honor = params.get("HonorCooldown", "false")
        if honor not in ("true", "false"):
            raise AwsError(400, "ValidationError", f"Invalid value '{honor}' for HonorCooldown")
        g = self.groups.get(name)
        if g is None:
            raise AwsError(400, "ValidationError", f"AutoScalingGroup name not found - no such "
                           f"group: {name}")
        n = int(n)
        if n > g.max:
            raise AwsError(400, "ValidationError", f"New SetDesiredCapacity value {n} is above "
                           f"max value {g.max} for the AutoScalingGroup.")
        if n < g.min:
            raise AwsError(400, "ValidationError", f"New SetDesiredCapacity value {n} is below "
                           f"min value {g.min} for the AutoScalingGroup.")
        now = time.time()
        if honor == "true" and now - g.last_activity < g.cooldown_s:
            raise AwsError(400, "ScalingActivityInProgress", "You cannot set desired capacity "
                           "while the group is in its cooldown period.")
        if n != g.desired:
            g.last_activity = now
        self._resize(g, n, at=now)
        return 200, (f'<SetDesiredCapacityResponse xmlns="{XMLNS}">\n  <ResponseMetadata>\n'
                     f'    <RequestId>{uuid.uuid4()}</RequestId>\n  </ResponseMetadata>\n'
                     f'</SetDesiredCapacityResponse>\n')


def xml_escape(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def error_xml(e: AwsError) -> str:
    return (f'<ErrorResponse xmlns="{XMLNS}">\n  <Error>\n    <Type>{e.kind}</Type>\n'
            f'    <Code>{e.code}</Code>\n    <Message>{xml_escape(e.message)}</Message>\n'
            f'  </Error>\n  <RequestId>{uuid.uuid4()}</RequestId>\n</ErrorResponse>\n')


FAULT_ERRORS = {
    "throttle": AwsError(400, "Throttling", "Rate exceeded"),
    "throttle_doc": AwsError(400, "ThrottlingException", "The request was denied due to request "
                             "throttling."),
    "in_progress": AwsError(400, "ScalingActivityInProgress", "Scaling activity "
                            "ea3f3a8c-1234-1234-1234-123456789012 is in progress and blocks "
                            "this action."),
    "contention": AwsError(500, "ResourceContention", "You already have a pending update to an "
                           "Auto Scaling resource (for example, a group, instance, or load "
                           "balancer).", "Receiver"),
    "internal": AwsError(500, "InternalFailure", "The request processing has failed because of "
                         "an unknown error, exception or failure.", "Receiver"),
    "unavailable": AwsError(503, "ServiceUnavailable", "The request has failed due to a "
                            "temporary failure of the server.", "Receiver"),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that hangs up (it refused a body too large, it timed out) is no error."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fixture: AutoScalingFixture = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status: int, body: bytes, ctype: str = "text/xml") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._serve(b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self._send(413, b"")
            return
        self._serve(self.rfile.read(n))

    def _serve(self, body: bytes) -> None:
        fx = self.fixture
        raw_path, _, raw_query = self.path.partition("?")
        headers = {}
        for name, value in self.headers.raw_items():
            headers.setdefault(name.lower(), []).append(value)
        if self.command == "POST":
            ctype = headers.get("content-type", [""])[0].split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                self._send(400, error_xml(AwsError(400, "InvalidAction", "A POST must carry "
                           "an application/x-www-form-urlencoded body")).encode())
                return
        params = dict(urllib.parse.parse_qsl(
            body.decode("utf-8", "replace") if self.command == "POST" else raw_query,
            keep_blank_values=True))
        req = Request(time.time(), self.command, params.get("Action"), params, headers, body)
        with fx.lock:
            fx.requests.append(req)
        status, out, mode = self._answer(fx, raw_path, raw_query, headers, body, params, req)
        if mode == "hang":
            fx.release.wait(fx.hang_s)
        try:
            self._send(status, out, "text/html" if mode == "html503" else "text/xml")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _answer(self, fx, raw_path, raw_query, headers, body, params, req):
        action = params.get("Action")
        with fx.lock:
            try:
                key = fx.verify(self.command, raw_path, raw_query, headers, body)
                if raw_path != "/":
                    raise AwsError(404, "UnknownOperationException", "Unknown operation")
                if action is None:
                    raise AwsError(400, "MissingAction", "The request must contain the "
                                   "parameter Action.")
                mode = fx._take_fault(action)
                if mode in FAULT_ERRORS:
                    raise FAULT_ERRORS[mode]
                if mode == "html503":
                    req.status, req.code = 503, "html"
                    return 503, b"<html><body>503 Service Temporarily Unavailable</body></html>", mode
                if mode == "garbage":
                    req.status = 200
                    return 200, b"\x00\xffnot xml <<<", mode
                if mode == "notfound" and action == "DescribeAutoScalingGroups":
                    params = {k: v for k, v in params.items() if not k.startswith("AutoScaling")}
                if mode == "wrongtype" and action == "DescribeAutoScalingGroups":
                    g = fx.groups[params["AutoScalingGroupNames.member.1"]]
                    req.status = 200
                    doc = fx._describe({"Version": VERSION})[1].replace(
                        "<AutoScalingGroups>", "<AutoScalingGroups>" + fx._group_xml(
                            g, time.time(), desired="two"))
                    return 200, doc.encode(), mode
                if mode in ("huge", "doctype") and action == "DescribeAutoScalingGroups":
                    req.status = 200
                    doc = fx._describe(params)[1]
                    if mode == "huge":
                        tag = ("<member><ResourceId>x</ResourceId><PropagateAtLaunch>true"
                               "</PropagateAtLaunch><Value>" + "v" * 200 + "</Value><Key>k</Key>"
                               "<ResourceType>auto-scaling-group</ResourceType></member>")
                        doc = doc.replace("<Tags>", "<Tags>" + tag * (HUGE_BYTES // len(tag) + 1))
                    else:
                        doc = ('<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
                               '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n' + doc.replace(
                                   "<DefaultCooldown>", "<Note>&b;</Note><DefaultCooldown>"))
                    return 200, doc.encode(), mode
                if mode == "hang":
                    req.status, req.code = 0, "hang"
                    return 200, b"", mode                  # never applied, never answered in time
                status, doc = fx.handle(action, params, key)
                req.status = status
                if mode == "landed_garbage":
                    return 200, b"<SetDesiredCapacityResponse", mode
                return status, doc.encode(), mode
            except AwsError as e:
                req.status, req.code = e.status, e.code
                return e.status, error_xml(e).encode(), None
