/**
 * The backend contract suite with the AWS backend on moto (through the fault proxy), on a real control plane.
 * The crash test runs a provider process (`--backend aws`) against the same emulator.
 */
import { runContractSuite } from '../../src/testkit/contract/suite.ts';
import { makeAwsContractHandle } from './aws-contract-handle.ts';

runContractSuite({ name: 'aws (moto)', makeBackend: makeAwsContractHandle });
