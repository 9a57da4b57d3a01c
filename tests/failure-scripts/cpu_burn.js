// A load generator burning CPU: every iteration spins for 50 ms, with more VUs than the
// machine has cores, so the agents' machine stays near 100 % CPU (AGENT_OVERLOADED).
export const options = {
  scenarios: {
    burn: { executor: 'constant-vus', vus: 6, duration: '20s' },
  },
  volley: { agents: 2 },
};

export default function () {
  const t = Date.now();
  while (Date.now() - t < 50) {
    // busy on purpose
  }
}
