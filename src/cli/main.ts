#!/usr/bin/env node
/**
 * datum-provider: run the provider, or a whole local Datum environment.
 *   run        with --kubeconfig/--settings: the provider against that cluster; with neither: the embedded
 *              local environment (control plane, upstream, a local platform or the in-memory backend, examples).
 *   status     every Instance of a cluster with its conditions, grouped by Workload.
 *   manifests  the CRDs and RBAC this version needs.
 *   runtimeclass  the RuntimeClass a cell-generation installation ships for its backend (YAML).
 * The commands themselves are in cli.ts, which provider projects call with their own backends.
 */
import { runCliAndExit } from './cli.ts';

runCliAndExit(process.argv.slice(2));
