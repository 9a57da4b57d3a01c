// constant-arrival-rate over 3 agents: 60 iterations/s for 10 s, 600 planned in total.
export const options = {
  scenarios: {
    arrival: {
      executor: 'constant-arrival-rate', rate: 60, timeUnit: '1s', duration: '10s',
      preAllocatedVUs: 30, maxVUs: 30,
    },
  },
  volley: { agents: 3 },
};

export default function () {}
