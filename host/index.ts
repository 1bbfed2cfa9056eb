/**
 * `warmbox/host`: the host's administration, apart from the library that runs jobs: what
 * `warmbox doctor` checks, and gVisor's registration with the engine.
 */
export { diagnose, type DiagnoseOptions, type Finding } from './doctor.js';
export { mergeGvisorRuntime, registerGvisor, type RegisterGvisorOptions } from './register-runtime.js';
export { GVISOR_FLAGS } from '../contract/gvisor.js';
