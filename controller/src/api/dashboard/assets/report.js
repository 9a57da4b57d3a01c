// The entry of a run's HTML report (docs/dashboard.md#the-html-report): the run page, fed from
// the events recorded in the file (feed.js replays them) instead of a live stream.
import { runPage } from './pages.js';

{
  const conn = document.getElementById('conn');
  const page = document.getElementById('main');
  const say = (text, error = false) => {
    conn.textContent = text;
    conn.classList.toggle('error', error);
  };
  runPage(page, say, Number(page.dataset.run));
}
