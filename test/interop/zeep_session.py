#!/usr/bin/python3
# A scripted ONVIF session with zeep (Debian python3-zeep) in strict mode against the official
# WSDLs in ../shared/onvif. Absolute imports are served from external/ (and the SOAP 1.2
# envelope from stubs/) by the transport; nothing is fetched from the network.
# Prints one JSON object: {"ops": {name: {"status": "pass"|"fail", "detail": str}}}.
# Driven by test/interop/interop.test.ts; usage:
#   /usr/bin/python3 zeep_session.py DEVICE_XADDR USER PASSWORD ONVIF_DIR SIMULATOR_URL
import datetime
import json
import os
import re
import sys
import time
import traceback
import urllib.request

import requests
from requests.auth import HTTPDigestAuth
from zeep import Client, Plugin, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

DEVICE_XADDR, USER, PASSWORD, ONVIF_DIR, SIM_URL = sys.argv[1:6]

ops = {}


def record(name, ok, detail=''):
    ops[name] = {'status': 'pass' if ok else 'fail', 'detail': str(detail)[:1500]}


class LocalTransport(Transport):
    """Loads http(s)://HOST/PATH from ONVIF_DIR/external/HOST/PATH; refuses the network."""

    def load(self, url):
        m = re.match(r'^https?://([^/]+)(/.*)$', url)
        if m:
            host, path = m.groups()
            if host == 'www.w3.org' and path == '/2003/05/soap-envelope':
                local = os.path.join(ONVIF_DIR, 'stubs', 'soap12-envelope-stub.xsd')
            else:
                local = os.path.join(ONVIF_DIR, 'external', host, path.lstrip('/'))
            if not os.path.isfile(local):
                raise IOError('not stored locally: ' + url)
            with open(local, 'rb') as fh:
                return fh.read()
        return super().load(url)


class LastEnvelope(Plugin):
    """Keeps the last answer's envelope, for values zeep turns into opaque any-content."""

    def __init__(self):
        self.envelope = None

    def ingress(self, envelope, http_headers, operation):
        self.envelope = envelope
        return envelope, http_headers


WSDL = {
    'device': ('wsdl/ver10/device/wsdl/devicemgmt.wsdl', '{http://www.onvif.org/ver10/device/wsdl}DeviceBinding'),
    'media': ('wsdl/ver10/media/wsdl/media.wsdl', '{http://www.onvif.org/ver10/media/wsdl}MediaBinding'),
    'media2': ('wsdl/ver20/media/wsdl/media.wsdl', '{http://www.onvif.org/ver20/media/wsdl}Media2Binding'),
    'imaging': ('wsdl/ver20/imaging/wsdl/imaging.wsdl', '{http://www.onvif.org/ver20/imaging/wsdl}ImagingBinding'),
    'events': ('wsdl/ver10/events/wsdl/event.wsdl', '{http://www.onvif.org/ver10/events/wsdl}EventBinding'),
    'pullpoint': ('wsdl/ver10/events/wsdl/event.wsdl', '{http://www.onvif.org/ver10/events/wsdl}PullPointSubscriptionBinding'),
    'subscription': ('wsdl/ver10/events/wsdl/event.wsdl', '{http://www.onvif.org/ver10/events/wsdl}SubscriptionManagerBinding'),
}
SETTINGS = Settings(strict=True)
clients = {}
plugin = LastEnvelope()


def service(kind, xaddr, wsse=None):
    path, binding = WSDL[kind]
    key = (path, id(wsse))
    if key not in clients:
        clients[key] = Client(os.path.join(ONVIF_DIR, path), transport=LocalTransport(timeout=10, operation_timeout=20),
                              settings=SETTINGS, wsse=wsse, plugins=[plugin])
    return clients[key].create_service(binding, xaddr)


def token(password=PASSWORD, **kw):
    return UsernameToken(USER, password, use_digest=True, **kw)


def subcodes(fault):
    return ' '.join(str(s) for s in (fault.subcodes or []))


def step(name):
    def wrap(fn):
        try:
            fn()
        except Fault as f:
            record(name, False, 'Fault %s %s: %s' % (f.code, subcodes(f), f.message))
        except Exception as e:  # noqa: BLE001 - every failure is a result
            record(name, False, '%s: %s' % (type(e).__name__, ''.join(traceback.format_exception_only(type(e), e)).strip()))
        return fn
    return wrap


auth = token()
state = {}


@step('GetSystemDateAndTime')
def _():
    dev = service('device', DEVICE_XADDR)  # pre-auth: no credentials
    r = dev.GetSystemDateAndTime()
    u = r.UTCDateTime
    cam = datetime.datetime(u.Date.Year, u.Date.Month, u.Date.Day, u.Time.Hour, u.Time.Minute, u.Time.Second, tzinfo=datetime.timezone.utc)
    skew = abs((cam - datetime.datetime.now(datetime.timezone.utc)).total_seconds())
    record('GetSystemDateAndTime', skew < 300, 'UTC %s, skew %.0f s' % (cam.isoformat(), skew))


@step('GetDeviceInformation')
def _():
    r = service('device', DEVICE_XADDR, auth).GetDeviceInformation()
    ok = all([r.Manufacturer, r.Model, r.FirmwareVersion, r.SerialNumber, r.HardwareId])
    record('GetDeviceInformation', ok, '%s %s fw %s serial %s' % (r.Manufacturer, r.Model, r.FirmwareVersion, r.SerialNumber))


@step('GetCapabilities')
def _():
    r = service('device', DEVICE_XADDR, auth).GetCapabilities(Category=['All'])
    xaddrs = {k: getattr(r, k).XAddr for k in ('Device', 'Media', 'Events', 'Imaging') if getattr(r, k, None) is not None}
    state['caps'] = xaddrs
    record('GetCapabilities', 'Media' in xaddrs and 'Events' in xaddrs, xaddrs)


@step('GetServices')
def _():
    r = service('device', DEVICE_XADDR, auth).GetServices(IncludeCapability=True)
    xaddrs = {s.Namespace: s.XAddr for s in r}
    state['services'] = xaddrs
    need = ['http://www.onvif.org/ver10/device/wsdl', 'http://www.onvif.org/ver10/media/wsdl', 'http://www.onvif.org/ver10/events/wsdl', 'http://www.onvif.org/ver20/imaging/wsdl']
    record('GetServices', all(n in xaddrs for n in need), xaddrs)


def xaddr(ns, cap):
    return state.get('services', {}).get(ns) or state.get('caps', {}).get(cap)


@step('GetNetworkInterfaces')
def _():
    r = service('device', DEVICE_XADDR, auth).GetNetworkInterfaces()
    hw = [i.Info.HwAddress for i in r if i.Info is not None]
    record('GetNetworkInterfaces', len(hw) > 0 and all(re.match(r'^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$', h) for h in hw), hw)


@step('GetProfiles')
def _():
    media = service('media', xaddr('http://www.onvif.org/ver10/media/wsdl', 'Media'), auth)
    r = media.GetProfiles()
    state['profile'] = r[0]
    encodings = [p.VideoEncoderConfiguration.Encoding for p in r if p.VideoEncoderConfiguration is not None]
    record('GetProfiles', len(r) > 0 and 'H264' in encodings, '%d profiles %s, encodings %s' % (len(r), [p.token for p in r], encodings))


@step('GetStreamUri')
def _():
    media = service('media', xaddr('http://www.onvif.org/ver10/media/wsdl', 'Media'), auth)
    r = media.GetStreamUri(StreamSetup={'Stream': 'RTP-Unicast', 'Transport': {'Protocol': 'RTSP'}}, ProfileToken=state['profile'].token)
    uri = r.Uri
    record('GetStreamUri', uri.startswith('rtsp://') and '@' not in uri.split('/')[2], uri)


@step('Media2')
def _():
    media2 = service('media2', xaddr('http://www.onvif.org/ver20/media/wsdl', 'Media2'), auth)
    profiles = media2.GetProfiles(Type=['All'])
    encodings = [p.Configurations.VideoEncoder.Encoding for p in profiles if p.Configurations is not None and p.Configurations.VideoEncoder is not None]
    uri = media2.GetStreamUri(Protocol='RtspUnicast', ProfileToken=profiles[0].token)
    ok = len(profiles) > 0 and 'H264' in encodings and uri.startswith('rtsp://')
    record('Media2', ok, 'GetProfiles %s %s, GetStreamUri %s' % ([p.token for p in profiles], encodings, uri))


@step('GetSnapshotUri')
def _():
    media = service('media', xaddr('http://www.onvif.org/ver10/media/wsdl', 'Media'), auth)
    uri = media.GetSnapshotUri(ProfileToken=state['profile'].token).Uri
    res = requests.get(uri, auth=HTTPDigestAuth(USER, PASSWORD), timeout=15)
    ok = res.status_code == 200 and res.content[:2] == b'\xff\xd8' and res.headers.get('content-type', '').startswith('image/jpeg')
    record('GetSnapshotUri', ok, '%s -> HTTP %d %s, %d bytes (Digest)' % (uri, res.status_code, res.headers.get('content-type'), len(res.content)))


@step('GetImagingSettings')
def _():
    img = service('imaging', xaddr('http://www.onvif.org/ver20/imaging/wsdl', 'Imaging'), auth)
    source = state['profile'].VideoSourceConfiguration.SourceToken
    state['source'] = source
    r = img.GetImagingSettings(VideoSourceToken=source)
    state['brightness'] = r.Brightness
    record('GetImagingSettings', r.Brightness is not None, 'source %s brightness %s contrast %s' % (source, r.Brightness, r.Contrast))


@step('SetImagingSettings')
def _():
    img = service('imaging', xaddr('http://www.onvif.org/ver20/imaging/wsdl', 'Imaging'), auth)
    before = state['brightness']
    target = 40.0 if before != 40.0 else 60.0
    img.SetImagingSettings(VideoSourceToken=state['source'], ImagingSettings={'Brightness': target}, ForcePersistence=True)
    after = img.GetImagingSettings(VideoSourceToken=state['source']).Brightness
    record('SetImagingSettings', abs(after - target) < 1, 'brightness %s -> %s (asked %s)' % (before, after, target))


def motion_in(envelope):
    """Topic and State/IsMotion of every NotificationMessage in a PullMessagesResponse."""
    found = []
    for msg in envelope.iter('{http://docs.oasis-open.org/wsn/b-2}NotificationMessage'):
        topic = msg.find('{http://docs.oasis-open.org/wsn/b-2}Topic')
        items = {i.get('Name'): i.get('Value') for i in msg.iter('{http://www.onvif.org/ver10/schema}SimpleItem')}
        inner = msg.find('.//{http://www.onvif.org/ver10/schema}Message')
        op = inner.get('PropertyOperation') if inner is not None else None
        found.append(((topic.text or '').strip() if topic is not None else '', items, op))
    return found


@step('GetEventProperties')
def _():
    events = service('events', xaddr('http://www.onvif.org/ver10/events/wsdl', 'Events'), auth)
    r = events.GetEventProperties()
    topics = [el.tag for el in plugin.envelope.iter() if el.tag.endswith('MotionAlarm') or el.tag.endswith('CellMotionDetector')]
    ok = r.FixedTopicSet is not None and len(topics) > 0 and len(r.TopicExpressionDialect) > 0 and len(r.MessageContentFilterDialect) > 0
    record('GetEventProperties', ok, 'topics %s, dialects %s' % (sorted(set(t.split('}')[-1] for t in topics)), r.TopicExpressionDialect))


@step('PullPointEvent')
def _():
    events = service('events', xaddr('http://www.onvif.org/ver10/events/wsdl', 'Events'), auth)
    # AbsoluteOrRelativeTimeType is a union zeep cannot pick a member of: the duration as text.
    sub = events.CreatePullPointSubscription(InitialTerminationTime='PT60S')
    addr = sub.SubscriptionReference.Address
    addr = getattr(addr, '_value_1', addr)
    pull = service('pullpoint', addr, auth)
    pull.PullMessages(Timeout=datetime.timedelta(seconds=1), MessageLimit=50)  # Initialized state
    service('subscription', addr, auth).Renew(TerminationTime='PT60S')
    pull.SetSynchronizationPoint()
    pull.PullMessages(Timeout=datetime.timedelta(seconds=1), MessageLimit=50)  # the state again, after the synchronization point
    req = urllib.request.Request(SIM_URL + '/__sim/events', data=json.dumps({'code': 'VideoMotion', 'action': 'Start', 'index': 0}).encode(),
                                 headers={'Content-Type': 'application/json'}, method='POST')
    t0 = time.monotonic()
    urllib.request.urlopen(req, timeout=5).read()
    seen, got = [], None
    while got is None and time.monotonic() - t0 < 5:
        pull.PullMessages(Timeout=datetime.timedelta(seconds=2), MessageLimit=50)
        for topic, items, op in motion_in(plugin.envelope):
            seen.append((topic, items, op))
            if topic.endswith('MotionAlarm') and items.get('State') == 'true' or topic.endswith('CellMotionDetector/Motion') and items.get('IsMotion') == 'true':
                got = time.monotonic() - t0
                break
    try:
        pull.Unsubscribe()
    except Fault:
        pass
    urllib.request.urlopen(urllib.request.Request(SIM_URL + '/__sim/events', data=json.dumps({'code': 'VideoMotion', 'action': 'Stop', 'index': 0}).encode(),
                                                  headers={'Content-Type': 'application/json'}, method='POST'), timeout=5).read()
    record('PullPointEvent', got is not None and got < 2.0, 'motion after %s s; messages %s' % (None if got is None else round(got, 3), seen[:6]))


@step('HttpDigest')
def _():
    # SOAP authenticated by HTTP Digest alone (no UsernameToken): requests answers the 401 challenge.
    session = requests.Session()
    session.auth = HTTPDigestAuth(USER, PASSWORD)
    client = Client(os.path.join(ONVIF_DIR, WSDL['device'][0]), transport=LocalTransport(session=session, timeout=10, operation_timeout=20), settings=SETTINGS)
    r = client.create_service(WSDL['device'][1], DEVICE_XADDR).GetDeviceInformation()
    record('HttpDigest', bool(r.Model), 'GetDeviceInformation over HTTP Digest: %s %s' % (r.Manufacturer, r.Model))


@step('WrongPassword')
def _():
    try:
        service('device', DEVICE_XADDR, token('not-the-password')).GetDeviceInformation()
        record('WrongPassword', False, 'answered without a fault')
    except Fault as f:
        record('WrongPassword', 'NotAuthorized' in subcodes(f), 'Fault %s %s' % (f.code, subcodes(f)))


@step('ReplayedToken')
def _():
    fixed = token(nonce=os.urandom(16).hex(), created=datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
    dev = service('device', DEVICE_XADDR, fixed)
    dev.GetDeviceInformation()
    try:
        dev.GetDeviceInformation()
        record('ReplayedToken', False, 'the same nonce and Created were accepted twice')
    except Fault as f:
        record('ReplayedToken', 'NotAuthorized' in subcodes(f), 'second use: Fault %s %s' % (f.code, subcodes(f)))


print(json.dumps({'ops': ops}))
