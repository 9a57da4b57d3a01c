// The `k6/execution` module: information about the VU, scenario and instance, and test control.
const V = globalThis.__volley;

const vuTags = new Proxy({}, {
  get(t, k) { return typeof k === 'string' ? V.vuTagGet(k) : undefined; },
  set(t, k, v) {
    if (typeof v === 'object' && v !== null) throw new TypeError('only string, number and boolean VU tag values are allowed');
    V.vuTagSet(String(k), String(v));
    return true;
  },
  deleteProperty(t, k) { V.vuTagDelete(String(k)); return true; },
  ownKeys() { return V.vuTagKeys(); },
  getOwnPropertyDescriptor(t, k) {
    const v = V.vuTagGet(String(k));
    return v === undefined ? undefined : { value: v, writable: true, enumerable: true, configurable: true };
  },
});

const vu = {
  get idInInstance() { return V.info('vu.idInInstance'); },
  get idInTest() { return V.info('vu.idInTest'); },
  get iterationInInstance() { return V.info('vu.iterationInInstance'); },
  get iterationInScenario() { return V.info('vu.iterationInScenario'); },
  get tags() { return vuTags; },
  set tags(v) { throw new TypeError('exec.vu.tags cannot be replaced; set its properties instead'); },
  metrics: {
    get tags() { return vuTags; },
    metadata: {},
  },
};

const scenario = {
  get name() { return V.info('scenario.name'); },
  get executor() { return V.info('scenario.executor'); },
  get startTime() { return V.info('scenario.startTime'); },
  get progress() { return V.info('scenario.progress'); },
  get iterationInInstance() { return V.info('scenario.iterationInInstance'); },
  get iterationInTest() { return V.info('scenario.iterationInTest'); },
};

const instance = {
  get iterationsInterrupted() { return V.info('instance.iterationsInterrupted'); },
  get iterationsCompleted() { return V.info('instance.iterationsCompleted'); },
  get vusActive() { return V.info('instance.vusActive'); },
  get vusInitialized() { return V.info('instance.vusInitialized'); },
  get currentTestRunDuration() { return V.info('instance.currentTestRunDuration'); },
};

const test = {
  abort(arg) {
    if (arg !== null && typeof arg === 'object') {
      return V.testAbort(arg.message === undefined ? null : String(arg.message),
        arg.exitCode === undefined ? null : Number(arg.exitCode),
        arg.context === undefined ? null : JSON.stringify(arg.context));
    }
    V.testAbort(arg === undefined ? null : String(arg), null, null);
  },
  fail(message) { V.testFail(message === undefined ? null : String(message)); },
  get options() { return V.options(); },
};

export { vu, scenario, instance, test };
export default { vu, scenario, instance, test };
