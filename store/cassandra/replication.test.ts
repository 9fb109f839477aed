import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkKeyspaceName, parseReplication, replicationCql } from './replication.js';

const cql = (raw: string): string => replicationCql(parseReplication(raw));

describe('replication setting', () => {
  it('parses SimpleStrategy with a replication factor', () => {
    assert.equal(cql('SimpleStrategy:1'), "{'class': 'SimpleStrategy', 'replication_factor': '1'}");
    assert.equal(cql(' simplestrategy : 3 '), "{'class': 'SimpleStrategy', 'replication_factor': '3'}");
  });

  it('parses NetworkTopologyStrategy with one factor per datacenter, in the given order', () => {
    assert.equal(cql('NetworkTopologyStrategy:dc1=3'), "{'class': 'NetworkTopologyStrategy', 'dc1': '3'}");
    assert.equal(
      cql('NetworkTopologyStrategy: us-east-1 = 3 , eu_west.2=2'),
      "{'class': 'NetworkTopologyStrategy', 'us-east-1': '3', 'eu_west.2': '2'}",
    );
    assert.deepEqual(parseReplication('NetworkTopologyStrategy:DC1=3,DC2=1'), {
      strategy: 'NetworkTopologyStrategy',
      factors: new Map([
        ['DC1', 3],
        ['DC2', 1],
      ]),
    });
  });

  it('rejects malformed values with a message naming the variable', () => {
    const bad = [
      '',
      'SimpleStrategy',
      'SimpleStrategy:',
      'SimpleStrategy:0',
      'SimpleStrategy:x',
      'SimpleStrategy:100',
      'SimpleStrategy:-1',
      'SimpleStrategy:1,2',
      'SimpleStrategy:3/1',
      'NetworkTopologyStrategy:',
      'NetworkTopologyStrategy:dc1',
      'NetworkTopologyStrategy:dc1=',
      'NetworkTopologyStrategy:dc1=3,',
      'NetworkTopologyStrategy:dc1=3,dc1=2',
      "NetworkTopologyStrategy:dc'1=3",
      'NetworkTopologyStrategy:dc 1=3',
      'NetworkTopologyStrategy:=3',
      'NetworkTopologyStrategy:dc1=0',
      'OldNetworkTopologyStrategy:dc1=1',
      'LocalStrategy:1',
      'org.apache.cassandra.locator.SimpleStrategy:1',
    ];
    for (const raw of bad) {
      assert.throws(
        () => parseReplication(raw),
        /^Error: invalid configuration: CASSANDRA_REPLICATION /,
        raw,
      );
    }
  });
});

describe('keyspace name', () => {
  it('accepts plain lower-case CQL names up to 48 chars', () => {
    for (const name of ['gmessenger', 'gm_test_0a1b2c3d', 'k', 'a'.repeat(48)]) {
      assert.equal(checkKeyspaceName(name), name);
    }
  });

  it('rejects anything that would need quoting or could inject CQL', () => {
    for (const name of [
      '',
      'GMessenger',
      '1abc',
      '_abc',
      'a-b',
      'a.b',
      'a'.repeat(49),
      'ks; DROP KEYSPACE x',
    ]) {
      assert.throws(() => checkKeyspaceName(name), /CASSANDRA_KEYSPACE/, name);
    }
  });
});
