// bench/k6/script.js: the k6 side of bench/ (own code). One GET per iteration.
//   closed loop:   k6 run --vus 64 --duration 10s -e URL=http://127.0.0.1:28080/ script.js
//   think time:    add -e THINK=1            (seconds slept after each request)
//   arrival rate:  add -e RATE=5000 -e PREVUS=64 -e MAXVUS=1000 -e DUR=15s
import http from 'k6/http';
import { sleep } from 'k6';

const rate = __ENV.RATE ? parseInt(__ENV.RATE, 10) : 0;
const think = __ENV.THINK ? parseFloat(__ENV.THINK) : 0;

export const options = rate > 0 ? {
  discardResponseBodies: true,
  scenarios: {
    open: {
      executor: 'constant-arrival-rate',
      rate: rate,
      timeUnit: '1s',
      duration: __ENV.DUR || '10s',
      preAllocatedVUs: parseInt(__ENV.PREVUS || '64', 10),
      maxVUs: parseInt(__ENV.MAXVUS || __ENV.PREVUS || '64', 10),
      gracefulStop: '5s',
    },
  },
} : {
  discardResponseBodies: true,
};

export default function () {
  http.get(__ENV.URL);
  if (think > 0) {
    sleep(think);
  }
}
