// startup: time from process start to setup(), which both tools run only after
// every VU of the test has been initialised. The harness reads SETUP_AT from the log
// and subtracts the wall-clock time at which it started the process.
// Runs unmodified under `k6 run` and `volley run`; the harness sets the __ENV values.
const VUS = Number(__ENV.VUS || 10000);

export const options = {
  scenarios: {
    startup: {
      executor: 'shared-iterations',
      vus: VUS,
      iterations: VUS,
      maxDuration: '2m',
    },
  },
};

export function setup() {
  console.log('SETUP_AT ' + Date.now());
}

export default function () {
  // Trivial on purpose: only the cost of bringing the VUs up is measured.
}
