/** The project URL Milo discovery builds: the one place it is made (the integration test connects through it). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { miloProjectConfig } from '../../src/runtime/index.ts';

describe('miloProjectConfig', () => {
  const discovery = {
    server: 'https://api.milo.example:6443/',
    caData: 'CA',
    token: 'discovery-token',
  };

  it("is the discovery host plus the Project's control-plane path, with the discovery credentials", () => {
    const cfg = miloProjectConfig({ metadata: { name: 'proj-1' } }, discovery);
    assert.equal(
      cfg.server,
      'https://api.milo.example:6443/apis/resourcemanager.miloapis.com/v1alpha1/projects/proj-1/control-plane',
    );
    assert.equal(cfg.caData, 'CA');
    assert.equal(cfg.token, 'discovery-token');
  });

  it('keeps a path prefix of the discovery server and never doubles slashes', () => {
    const cfg = miloProjectConfig({ metadata: { name: 'p' } }, { server: 'https://gw.example/milo//' });
    assert.equal(
      cfg.server,
      'https://gw.example/milo/apis/resourcemanager.miloapis.com/v1alpha1/projects/p/control-plane',
    );
  });
});
