"""Runs fakepve (a test tool, AGPL-3.0, installed in a venv in our cache) for our tests and `make run`.

Why not the `fakepve` command: it cannot create API tokens, extra nodes or container templates, and its faults
are a Python API. This driver builds the fake from a JSON file, adds a little realism our backend relies on
(a guest agent that reports the cloud-init address, a disk resize that changes the size), and serves a control
endpoint on loopback (plain HTTP, JSON) through which a test injects the fake's own faults, and stops and restarts
the API listener on its port (`api_down` / `api_up`). fakepve keeps its state in memory only (there is no state file):
restarting the process would lose every guest, so a restart keeps the process and restarts its listener.

    python serve.py setup.json --host 127.0.0.1 --port 0 --control-port 0 --time-scale 0.01 --pki DIR
Prints one JSON line: {"url", "control", "cert"}. The token secret comes from FAKEPVE_TOKEN_SECRET.
"""

import argparse
import asyncio
import json
import os
import re

from aiohttp import web
from fakepve import FakePve, PveError
from fakepve.certs import make_cert


def cloudinit_address(config):
    m = re.search(r'ip=([0-9.]+)/(\d+)', str(config.get('ipconfig0', '')))
    return (m.group(1), int(m.group(2))) if m else None


class DatumFakePve(FakePve):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Every error answer, as (method, path, status, message): what tests observe a refusal by (the fake's own
        # request log has no answers).
        self.refusals = []

    async def _answer(self, request, handler, generic, path_node):
        try:
            response = await super()._answer(request, handler, generic, path_node)
        except PveError as e:
            self.refusals.append((request.method, request.path, e.status, e.message))
            raise
        if response.status >= 400:
            self.refusals.append((request.method, request.path, response.status, response.reason))
        return response

    async def _agent_call(self, match, values):
        # A guest with qemu-guest-agent installed: agent=1 in the config means the agent answers once running,
        # reporting the address cloud-init configured.
        vm = self.find(values['node'], values['vmid'])
        enabled = str(vm.config.get('agent', '0')).split(',')[0].split('=')[-1] == '1'
        if vm.agent is None and enabled and vm.status == 'running':
            vm.agent = {}
        if vm.agent is not None and 'interfaces' not in vm.agent:
            addr = cloudinit_address(vm.config)
            if addr:
                vm.agent['interfaces'] = [
                    {'name': 'lo', 'hardware-address': '00:00:00:00:00:00',
                     'ip-addresses': [{'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4', 'prefix': 8}]},
                    {'name': 'eth0', 'hardware-address': 'bc:24:11:00:00:01',
                     'ip-addresses': [{'ip-address': addr[0], 'ip-address-type': 'ipv4', 'prefix': addr[1]}]}]
        return await super()._agent_call(match, values)

    def _routes_datum_resize(self):
        return [('PUT', '/nodes/{node}/qemu/{vmid}/resize', self._datum_resize)]

    async def _datum_resize(self, v, user):
        vm = self.find(v['node'], v['vmid'])
        self.need_quorum()
        disk, size = v['disk'], str(v['size'])
        if disk not in vm.config:
            raise PveError(500, "disk '{0}' does not exist".format(disk))

        async def body():
            value = re.sub(r',size=[^,]*', '', str(vm.config[disk]))
            vm.config[disk] = value + ',size=' + size.lstrip('+')
        return await self.task(vm.node, 'resize', vm.vmid, user, body, vm=vm)


def build(setup, args):
    pve = DatumFakePve(host=args.host, port=args.port)
    pve.time_scale = args.time_scale
    for node in setup.get('nodes', []):
        pve.add_node(node)
    for name, secret in setup.get('tokens', {}).items():
        pve.apitokens[name] = os.environ.get('FAKEPVE_TOKEN_SECRET', secret)
    for volid in setup.get('vztmpl', []):
        storage, _, name = volid.partition(':')
        pve.store_file(storage, name.split('/', 1)[1], 1024 ** 2, content='vztmpl')
    for g in setup.get('guests', []):
        vm = pve.add_vm(g['vmid'], g['name'], node=g.get('node', 'pve1'), status=g.get('status', 'stopped'),
                        config=g.get('config', {}), template=g.get('template', False))
        if g.get('template'):
            vm.config['template'] = 1
    return pve


def control_app(pve, certfile, keyfile):
    async def handle(request):
        body = await request.json()
        op = body.pop('op')
        out = None
        if op == 'lose_quorum':
            pve.lose_quorum()
        elif op == 'regain_quorum':
            pve.regain_quorum()
        elif op == 'flaky_network':
            pve.flaky_network(**body)
        elif op == 'hold_config_lock':
            await pve.hold_config_lock(body['vmid'], body.get('secs'))
        elif op == 'release_config_lock':
            pve.release_config_lock(body['vmid'])
        elif op == 'snapshot_lock':
            pve.snapshot_lock(body['vmid'], body.get('lock', 'snapshot'))
        elif op == 'unlock':
            pve.unlock(body['vmid'])
        elif op == 'shutdown_secs':
            # Every guest (now) takes this long to power off after ACPI; acpi=false ignores it altogether.
            for vm in pve.vms:
                vm.shutdown_secs = body['secs']
                if 'acpi' in body:
                    vm.acpi = body['acpi']
        elif op == 'fail':
            pve.fail(body['method'], body['suffix'], status=body.get('status'), message=body.get('message'),
                     error=body.get('error'), times=body.get('times'))
        elif op == 'task_secs':
            # PVE seconds a container task of this kind (create, destroy, ...) takes, scaled by --time-scale.
            pve.ct_secs[body['kind']] = body['secs']
        elif op == 'api_down':
            # The API stops answering (connections refused) while the cluster's state and its running tasks go
            # on, as when pveproxy/pvedaemon restart on a real node; in-flight answers finish first.
            await pve.stop()
        elif op == 'api_up':
            # Back on the same port, with everything it held.
            if pve.runner is None:
                await pve.start(certfile, keyfile)
        elif op == 'clear_failures':
            pve.failures.clear()
        elif op == 'requests':
            # With bodies: the form as sent (fakepve has already replaced password-like values by ***).
            if body.get('bodies'):
                out = [[m, p, b.decode('utf-8', 'replace') if isinstance(b, bytes) else str(b or '')]
                       for m, p, b in pve.requests]
            else:
                out = [[m, p] for m, p, _b in pve.requests]
        elif op == 'refusals':
            out = [list(r) for r in pve.refusals]
        elif op == 'guests':
            out = [{'vmid': g.vmid, 'name': g.name, 'node': g.node, 'status': g.status, 'type': t,
                    'tags': g.config.get('tags', ''), 'lock': g.lock}
                   for t, lst in (('qemu', pve.vms), ('lxc', pve.cts)) for g in lst]
        else:
            return web.json_response({'error': 'unknown op ' + op}, status=400)
        return web.json_response({'data': out})
    app = web.Application()
    app.router.add_post('/control', handle)
    return app


async def main(args):
    with open(args.setup) as f:
        setup = json.load(f)
    pve = build(setup, args)
    certfile, keyfile, _ = make_cert(args.pki, hosts=(args.host,))
    await pve.start(certfile, keyfile)
    runner = web.AppRunner(control_app(pve, certfile, keyfile))
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.control_port)
    await site.start()
    control_port = runner.addresses[0][1]
    print(json.dumps({'url': pve.url, 'control': 'http://{0}:{1}'.format(args.host, control_port),
                      'cert': certfile}), flush=True)
    await asyncio.Event().wait()


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('setup')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--control-port', type=int, default=0)
    p.add_argument('--time-scale', type=float, default=0.01)
    p.add_argument('--pki', required=True)
    a = p.parse_args()
    if a.host not in ('127.0.0.1', 'localhost') and not a.host.startswith('127.'):
        raise SystemExit('fakepve must listen on loopback')
    try:
        asyncio.run(main(a))
    except KeyboardInterrupt:
        pass
