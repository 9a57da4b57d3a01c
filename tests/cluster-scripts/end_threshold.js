// A threshold that fails at the end of the run (no abortOnFail): 30 iterations, `count<10`.
export const options = {
  scenarios: {
    shared: { executor: 'shared-iterations', vus: 3, iterations: 30, maxDuration: '20s' },
  },
  thresholds: {
    iterations: ['count<10'],
  },
  volley: { agents: 3 },
};

export default function () {}
