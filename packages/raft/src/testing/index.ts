/**
 * @kv/raft/testing — tools for testing code built on Raft: a deterministic
 * in-process cluster of raw nodes, cluster-wide safety checks, a seeded
 * fault-injecting simulation, and the script-format test runner.
 *
 * @packageDocumentation
 */
export { RawCluster, type RawClusterOptions, type ClusterNode, type ClusterObserver, type CrashPoint } from './raw-cluster.js';
export { ClusterInvariants, SafetyViolation } from './invariants.js';
export { runSimulation, SimulationFailure, type SimulationOptions, type SimulationResult } from './simulation.js';
export { seededRandom, type RandomSource } from '../random.js';
export {
  parseScript,
  argValue,
  argValues,
  argInt,
  hasArg,
  type ScriptArg,
  type ScriptBlock,
  type ScriptCommand,
} from './script/parser.js';
export { runScript, runScriptFile, type ScriptHandler, type ScriptRun, type BlockResult } from './script/runner.js';
export { ManualClock, type RunForOptions, type WaitForOptions } from './manual-clock.js';
export {
  createMemoryNetwork,
  type MemoryNetwork,
  type MemoryNetworkOptions,
  type MemoryTransport,
  type NetworkFaults,
  type NetworkStats,
  type LinkFilter,
} from './memory-network.js';
export { logStoreContract, type LogStoreContractOptions, type StoredRange } from './contracts/log-store-contract.js';
export { track, settle, type Outcome } from './settle.js';
