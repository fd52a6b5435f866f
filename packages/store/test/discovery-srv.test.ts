// DNS SRV bootstrap against a real DNS server on 127.0.0.1 (dns2): the
// records etcd's DNS bootstrap guide uses, under a test domain.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import dns2 from 'dns2';
import { discoverSrv } from '../src/members/discovery-srv.ts';
import { createNode } from '../src/create-node.ts';
import { KvError } from '../src/errors.ts';
import { createMemoryNetwork } from '@kv/raft/testing';

const { Packet } = dns2;
// Records as the server answers them (dns2 serialises plain objects).
type Answer = Omit<dns2.Packet.Resource, 'toBuffer'>;
const zone = new Map<string, Answer[]>();
function srv(name: string, targets: [string, number][]): void {
  zone.set(`SRV ${name}`, targets.map(([target, port]) => ({ name, type: Packet.TYPE.SRV, class: Packet.CLASS.IN, ttl: 60, priority: 0, weight: 0, port, target })));
}
function a(name: string, address: string): void {
  zone.set(`A ${name}`, [{ name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 60, address }]);
}

// etcd's guide: infra0..2.example.com on 2380. Here: three hosts, distinct
// addresses on the loopback net, plus a TLS zone.
srv('_etcd-server._tcp.example.test', [['infra0.example.test', 2380], ['infra1.example.test', 2380], ['infra2.example.test', 2380]]);
a('infra0.example.test', '127.0.0.10');
a('infra1.example.test', '127.0.0.11');
a('infra2.example.test', '127.0.0.12');
srv('_kv-server-ssl._tcp.secure.test', [['s0.secure.test', 2380], ['s1.secure.test', 2380]]);
a('s0.secure.test', '127.0.0.20');
a('s1.secure.test', '127.0.0.21');

let server: ReturnType<typeof dns2.createServer>;
let dnsServers: string[];

before(async () => {
  server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [q] = request.questions;
      const kind = q.type === Packet.TYPE.SRV ? 'SRV' : q.type === Packet.TYPE.A ? 'A' : 'other';
      response.answers.push(...((zone.get(`${kind} ${q.name}`) ?? []) as dns2.Packet.Resource[]));
      send(response);
    },
  });
  await new Promise<void>((resolve) => {
    server.on('listening', () => resolve());
    server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  });
  const { udp } = server.addresses() as { udp: { port: number } };
  dnsServers = [`127.0.0.1:${udp.port}`];
});

after(async () => {
  await server.close();
});

describe('DNS SRV discovery', () => {
  test('builds the initial cluster from _etcd-server._tcp records, naming this member and numbering the rest', async () => {
    const cluster = await discoverSrv({
      domain: 'example.test',
      name: 'infra1',
      advertisePeerUrls: ['http://infra1.example.test:2380'],
      dnsServers,
    });
    assert.deepEqual(cluster, {
      '0': ['http://infra0.example.test:2380'],
      infra1: ['http://infra1.example.test:2380'],
      '1': ['http://infra2.example.test:2380'],
    });
  });

  test('finds this member by address when it advertises an IP URL', async () => {
    const cluster = await discoverSrv({ domain: 'example.test', name: 'me', advertisePeerUrls: ['http://127.0.0.12:2380'], dnsServers });
    assert.deepEqual(cluster.me, ['http://127.0.0.12:2380']);
    assert.equal(Object.keys(cluster).length, 3);
  });

  test('gives https URLs for the -ssl services', async () => {
    const cluster = await discoverSrv({ domain: 'secure.test', name: 's0', advertisePeerUrls: ['https://s0.secure.test:2380'], dnsServers });
    assert.deepEqual(cluster, { s0: ['https://s0.secure.test:2380'], '0': ['https://s1.secure.test:2380'] });
  });

  test('refuses when this member is not among the records, in etcd\'s words', async () => {
    await assert.rejects(
      discoverSrv({ domain: 'example.test', name: 'infra9', advertisePeerUrls: ['http://10.9.9.9:2380'], dnsServers }),
      (e: unknown) => e instanceof KvError && /cannot find local etcd member "infra9" in SRV records/.test(e.message),
    );
  });

  test('refuses a domain without records', async () => {
    await assert.rejects(
      discoverSrv({ domain: 'nothing.test', name: 'x', advertisePeerUrls: ['http://127.0.0.1:2380'], dnsServers }),
      (e: unknown) => e instanceof KvError && /no SRV records found for nothing.test/.test(e.message),
    );
  });

  test('createNode with discoverySrv needs the advertised peer URLs', async () => {
    const net = createMemoryNetwork({ seed: 1 });
    await assert.rejects(
      createNode({ name: 'infra0', discoverySrv: 'example.test', dnsServers, transport: net.transport('infra0') }),
      (e: unknown) => e instanceof KvError && /needs initialAdvertisePeerUrls/.test(e.message),
    );
  });
});

describe('static bootstrap', () => {
  test("refuses an advertised URL that differs from the member's entry in initialCluster, as etcd does", async () => {
    const net = createMemoryNetwork({ seed: 1 });
    await assert.rejects(
      createNode({
        name: 'infra0',
        initialCluster: 'infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380',
        initialAdvertisePeerUrls: ['http://10.0.1.99:2380'],
        transport: net.transport('infra0'),
      }),
      (e: unknown) =>
        e instanceof KvError &&
        e.message.includes('--initial-cluster has infra0=http://10.0.1.10:2380 but missing from --initial-advertise-peer-urls=http://10.0.1.99:2380'),
    );
  });
});
