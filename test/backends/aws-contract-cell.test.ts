/** The cell-generation contract suite with the AWS backend on moto, on a real control plane. */
import { runContractSuite } from '../../src/testkit/contract/suite.ts';
import { makeAwsContractHandle } from './aws-contract-handle.ts';

runContractSuite({ name: 'aws (moto)', generation: 'cell', makeBackend: makeAwsContractHandle });
