// The insights console: reads the JSON endpoints with the viewer's token (kept in sessionStorage only)
// and draws each figure with Chart.js. Text from the API is only ever set as textContent.

const TOKEN_KEY = "guild.console.token";
const Chart = window.Chart;
const $ = (id) => document.getElementById(id);

// Each chart's section: its name, title, whether it shows for a programme too, and its canvas's label.
const PANELS = [
  ["participation", "Participation over time", "any", "Participation per week"],
  ["answers", "Answer rate and time to first answer", "any", "Answer rate and median time to first answer per week"],
  ["goals", "Goal progress", "community", "Goals: current value beside target"],
  ["pilot", "Pilot and control", "community", "Pilot and control, with the 95 % interval of the difference"],
  ["leaderboard", "Leaderboard", "community", "Points of the top members"],
  ["cpd", "CPD totals", "community", "Counted CPD minutes per member"],
];

function buildPanels() {
  const main = document.querySelector("main");
  for (const [name, title, scope, description] of PANELS) {
    const section = document.createElement("section");
    Object.assign(section.dataset, { panel: name, scope });
    section.hidden = true;
    const heading = document.createElement("h2");
    heading.textContent = title;
    const plot = document.createElement("div");
    plot.className = "plot";
    const canvas = document.createElement("canvas");
    canvas.id = `chart-${name}`;
    canvas.setAttribute("aria-label", description);
    canvas.setAttribute("role", "img");
    plot.append(canvas);
    const note = document.createElement("p");
    note.className = "note";
    section.append(heading, plot, note);
    main.append(section);
  }
}
const panels = () => document.querySelectorAll("main section[data-panel]");
const panel = (name) => document.querySelector(`main section[data-panel="${name}"]`);

const MESSAGES = {
  401: "The token was refused: paste a valid one.",
  403: "You may not see these figures.",
  404: "Not found.",
  409: "Not available for this community.",
  503: "A service is unavailable; try again shortly.",
};

class ApiError extends Error {
  constructor(status) {
    super(MESSAGES[status] || "Something went wrong.");
    this.status = status;
  }
}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    credentials: "omit",
    cache: "no-store",
  });
  if (!response.ok) throw new ApiError(response.status);
  return response.json();
}

function setStatus(text) {
  $("status").textContent = text;
}

function draw(name, config) {
  const section = panel(name);
  const canvas = section.querySelector("canvas");
  Chart.getChart(canvas)?.destroy();
  config.options = { animation: false, responsive: true, maintainAspectRatio: false, ...config.options };
  new Chart(canvas, config);
  show(name, "ready", "");
}

function show(name, state, note) {
  const section = panel(name);
  if (state !== "ready") Chart.getChart(section.querySelector("canvas"))?.destroy();
  section.dataset.state = state;
  section.querySelector(".note").textContent = note;
  section.hidden = false;
}

const round = (x) => Math.round(x * 10) / 10;
const label = (metric) => metric.replaceAll("_", " ");

function drawParticipation(weeks) {
  const labels = weeks.map((w) => w.week);
  draw("participation", {
    type: "line",
    data: {
      labels,
      datasets: [
        { label: "Members", data: weeks.map((w) => w.members) },
        { label: "Active (7 days)", data: weeks.map((w) => w.active_members_7_days) },
        { label: "Contributors", data: weeks.map((w) => w.contributors) },
        { label: "Posts", data: weeks.map((w) => w.questions + w.answers + w.comments + w.resources) },
      ],
    },
    options: { scales: { y: { beginAtZero: true } } },
  });
  draw("answers", {
    data: {
      labels,
      datasets: [
        { type: "bar", label: "Questions answered (%)", data: weeks.map((w) => round(w.questions_answered_pct)), yAxisID: "pct" },
        { type: "bar", label: "Answered within 24 h (%)", data: weeks.map((w) => round(w.answered_within_24h_pct)), yAxisID: "pct" },
        {
          type: "line",
          label: "Median hours to first answer",
          data: weeks.map((w) => (w.median_hours_to_first_answer === null ? null : round(w.median_hours_to_first_answer))),
          yAxisID: "hours",
          spanGaps: true,
        },
      ],
    },
    options: {
      scales: {
        pct: { position: "left", min: 0, max: 100, title: { display: true, text: "%" } },
        hours: { position: "right", beginAtZero: true, title: { display: true, text: "hours" }, grid: { drawOnChartArea: false } },
      },
    },
  });
}

function drawGoals(goals) {
  if (goals.length === 0) return show("goals", "empty", "No goals are set.");
  draw("goals", {
    type: "bar",
    data: {
      labels: goals.map((g) => `${label(g.metric)} (${g.status.replaceAll("_", " ")})`),
      datasets: [
        { label: "Current", data: goals.map((g) => round(g.current_value)) },
        { label: "Target", data: goals.map((g) => g.target) },
      ],
    },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true } } },
  });
}

function drawPilot(comparison) {
  if (comparison === null) return show("pilot", "empty", "No control group is set.");
  // Shares share one axis; the median time to the first answer (seconds) is told in the note.
  const shares = comparison.metrics.filter((m) => m.metric.endsWith("_pct"));
  const median = comparison.metrics.find((m) => !m.metric.endsWith("_pct"));
  draw("pilot", {
    data: {
      labels: shares.map((m) => label(m.metric)),
      datasets: [
        { type: "bar", label: "Pilot", data: shares.map((m) => round(m.pilot_value)) },
        { type: "bar", label: "Control", data: shares.map((m) => round(m.control_value)) },
        {
          type: "bar",
          label: "95 % interval of the difference",
          data: shares.map((m) => (m.interval ? m.interval.map(round) : null)),
          barPercentage: 0.3,
        },
        {
          type: "line",
          label: "Difference",
          data: shares.map((m) => round(m.difference)),
          showLine: false,
          pointRadius: 5,
        },
      ],
    },
    options: { scales: { y: { title: { display: true, text: "% (difference in points)" } } } },
  });
  const hours = (s) => round(s / 3600);
  const told = median
    ? `Median hours to first answer: pilot ${hours(median.pilot_value)}, control ${hours(median.control_value)}` +
      (median.interval ? ` (difference 95 % interval ${hours(median.interval[0])} to ${hours(median.interval[1])}). ` : ". ")
    : "";
  panel("pilot").querySelector(".note").textContent =
    told + "Observational: a difference says how the groups differed, not that the pilot caused it.";
}

function drawLeaderboard(board) {
  if (board.standings.length === 0) return show("leaderboard", "empty", "No points yet.");
  draw("leaderboard", {
    type: "bar",
    data: {
      labels: board.standings.map((s) => `${s.rank}. ${s.member_id}`),
      datasets: [{ label: "Points", data: board.standings.map((s) => s.points) }],
    },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true } } },
  });
}

function drawCpd(cpd) {
  if (cpd.totals.length === 0) return show("cpd", "empty", `No shared CPD totals in ${cpd.cpd_year}.`);
  draw("cpd", {
    type: "bar",
    data: {
      labels: cpd.totals.map((t) => t.member_id),
      datasets: [{ label: `Counted minutes, CPD year ${cpd.cpd_year}`, data: cpd.totals.map((t) => t.counted_minutes) }],
    },
    options: { scales: { y: { beginAtZero: true } } },
  });
  panel("cpd").querySelector(".note").textContent =
    `${cpd.counted_minutes} minutes shown; ${cpd.not_shared_members} more members do not share theirs.`;
}

async function load(name, path, render) {
  try {
    render(await api(path));
  } catch (error) {
    show(name, "denied", error instanceof ApiError ? error.message : "Something went wrong.");
  }
}

async function refresh() {
  const programme = $("programme").value;
  const community = $("community").value;
  const weeks = $("weeks").value;
  const scope = community ? "community" : "programme";
  for (const section of panels()) {
    section.hidden = !(section.dataset.scope === "any" || section.dataset.scope === scope);
    delete section.dataset.state;
  }
  if (!community && !programme) {
    setStatus("Choose a programme or a community.");
    for (const section of panels()) section.hidden = true;
    return;
  }
  setStatus("");
  const base = community
    ? `/api/communities/${encodeURIComponent(community)}`
    : `/api/programmes/${encodeURIComponent(programme)}`;
  const participation = (data) => drawParticipation(data.weeks);
  const loads = [load("participation", `${base}/participation?weeks=${weeks}`, participation)];
  if (community) {
    loads.push(
      load("goals", `${base}/goals`, (data) => drawGoals(data.goals)),
      load("pilot", `${base}/pilot`, (data) => drawPilot(data.comparison)),
      load("leaderboard", `${base}/leaderboard`, drawLeaderboard),
      load("cpd", `${base}/cpd`, drawCpd),
    );
  }
  await Promise.all(loads);
  // The answers chart is drawn with participation; a refused read marks both.
  const state = panel("participation").dataset.state;
  if (state !== "ready") show("answers", state, panel("participation").querySelector(".note").textContent);
  document.body.dataset.loaded = `${scope}:${community || programme}`;
}

function fillSelect(select, first, entries) {
  select.replaceChildren(new Option(first, ""), ...entries.map(([value, text]) => new Option(text, value)));
}

let communities = [];

function fillCommunities() {
  const programme = $("programme").value;
  const shown = communities.filter((c) => !programme || c.programme === programme);
  fillSelect($("community"), programme ? "Whole programme" : "Choose a community", shown.map((c) => [c.id, c.name]));
}

async function start() {
  if (!sessionStorage.getItem(TOKEN_KEY)) {
    $("picker").hidden = true;
    for (const section of panels()) section.hidden = true;
    setStatus("Paste a token to see the figures you may read.");
    return;
  }
  try {
    const data = await api("/api/communities");
    communities = data.communities;
    fillSelect($("programme"), "All programmes", data.programmes.map((p) => [p, p]));
    fillCommunities();
    $("picker").hidden = false;
    setStatus(communities.length ? "Choose a programme or a community." : "You see no communities.");
    document.body.dataset.loaded = "communities";
  } catch (error) {
    setStatus(error instanceof ApiError ? error.message : "Something went wrong.");
  }
}

buildPanels();
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  $("token").value = "";
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  start();
});
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  communities = [];
  fillSelect($("programme"), "All programmes", []);
  fillCommunities();
  start();
});
$("programme").addEventListener("change", () => {
  fillCommunities();
  refresh();
});
$("community").addEventListener("change", refresh);
$("weeks").addEventListener("change", refresh);

start();
