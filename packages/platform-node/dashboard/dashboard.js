// The dashboard page: draws the graph once, then follows the run's events
// (server-sent, from /events) and redraws the tiles, charts and tables.
// Plain script, no framework and no network beyond this server.
"use strict";
(() => {
  const svgNs = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const state = {
    graph: undefined,
    started: undefined,
    epochs: [],
    stepTotals: new Map(),
    failed: undefined,
    finished: undefined,
  };

  const element = (name, attributes, parent) => {
    const node = document.createElementNS(svgNs, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (parent !== undefined) parent.appendChild(node);
    return node;
  };
  const text = (content, attributes, parent) => {
    const node = element("text", attributes, parent);
    node.textContent = content;
    return node;
  };
  const formatRate = (perSecond) =>
    perSecond >= 1e6
      ? `${(perSecond / 1e6).toFixed(1)}M`
      : perSecond >= 1e3
      ? `${(perSecond / 1e3).toFixed(1)}k`
      : perSecond.toFixed(0);

  // Layered layout: a step's column is its longest distance from an input.
  const drawGraph = (graph) => {
    const svg = $("graph");
    svg.replaceChildren();
    const defs = element("defs", {}, svg);
    const marker = element("marker", {
      id: "arrow",
      viewBox: "0 0 10 10",
      refX: 10,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto-start-reverse",
    }, defs);
    element("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#9ca3af" }, marker);
    const column = new Map(graph.steps.map((step) => [step.id, 0]));
    for (const step of graph.steps) {
      for (const edge of graph.edges) {
        if (edge.to === step.id) column.set(step.id, Math.max(column.get(step.id), column.get(edge.from) + 1));
      }
    }
    const rows = new Map();
    const position = new Map();
    const width = 150, height = 54, gapX = 50, gapY = 18;
    for (const step of graph.steps) {
      const c = column.get(step.id);
      const r = rows.get(c) ?? 0;
      rows.set(c, r + 1);
      position.set(step.id, { x: 10 + c * (width + gapX), y: 10 + r * (height + gapY) });
    }
    const columns = Math.max(...column.values()) + 1;
    const maxRows = Math.max(...rows.values());
    svg.setAttribute("viewBox", `0 0 ${columns * (width + gapX) - gapX + 20} ${maxRows * (height + gapY) - gapY + 20}`);
    svg.style.maxHeight = `${maxRows * (height + gapY) + 20}px`;
    for (const edge of graph.edges) {
      const from = position.get(edge.from), to = position.get(edge.to);
      const x1 = from.x + width, y1 = from.y + height / 2, x2 = to.x, y2 = to.y + height / 2;
      const mid = (x1 + x2) / 2;
      element("path", { class: "edge", d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}` }, svg);
      if (edge.port !== undefined) text(edge.port, { class: "edge-label", x: x1 + 4, y: y1 - 4 }, svg);
    }
    for (const step of graph.steps) {
      const { x, y } = position.get(step.id);
      const group = element("g", {
        class: `node${step.stateful ? " stateful" : ""}`,
        "data-step": step.id,
        transform: `translate(${x} ${y})`,
      }, svg);
      element("rect", { width, height }, group);
      text(step.id, { class: "step-id", x: 8, y: 17 }, group);
      text(`${step.kind}${step.stateful ? " · state" : ""}`, { class: "kind", x: 8, y: 32 }, group);
      text("", { class: "rate", x: 8, y: 47, "data-rate": step.id }, group);
    }
  };

  const drawChart = (svg, points, yLabel) => {
    svg.replaceChildren();
    const box = svg.getBoundingClientRect();
    const w = Math.max(box.width, 200), h = Math.max(box.height, 100), pad = 28;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    if (points.length === 0) return;
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y1 = Math.max(...ys, 1);
    const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (w - pad - 8);
    const sy = (y) => h - pad + 8 - (y / y1) * (h - pad - 8);
    element("polyline", { points: points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ") }, svg);
    text(yLabel(y1), { x: 2, y: 12 }, svg);
    text("0", { x: 2, y: h - pad + 8 }, svg);
  };

  const render = () => {
    const last = state.epochs[state.epochs.length - 1];
    const status = $("status");
    if (state.failed !== undefined) {
      status.textContent = "failed";
      status.className = "status failed";
    } else if (state.finished !== undefined) {
      status.textContent = `finished at epoch ${state.finished.lastEpoch}`;
      status.className = "status finished";
    } else if (state.started !== undefined) {
      status.textContent = "running";
      status.className = "status running";
    }
    if (state.started !== undefined) {
      $("resume").textContent = String(state.started.resumeEpoch);
      $("workerCount").textContent = String(state.started.workerCount);
    }
    const error = $("error");
    error.hidden = state.failed === undefined;
    if (state.failed !== undefined) error.textContent = `${state.failed.errorTag}: ${state.failed.message}`;
    if (last === undefined) return;
    $("epoch").textContent = String(last.epoch);
    $("total").textContent = last.totalItems.toLocaleString("en");
    $("commit").textContent = `${last.commitMillis} ms`;
    $("rate").textContent = formatRate(last.epochMillis > 0 ? (last.items * 1000) / last.epochMillis : 0);
    const kinds = new Map((state.graph?.steps ?? []).map((s) => [s.id, s.kind]));
    const stepRows = last.steps.map((step) => {
      const seconds = Math.max(last.epochMillis, 1) / 1000;
      const inRate = step.itemsIn / seconds;
      const rate = document.querySelector(`[data-rate="${CSS.escape(step.stepId)}"]`);
      if (rate !== null) rate.textContent = `${formatRate(inRate)} in/s`;
      const row = document.createElement("tr");
      for (
        const cell of [
          step.stepId,
          kinds.get(step.stepId) ?? "",
          formatRate(inRate),
          formatRate(step.itemsOut / seconds),
          (state.stepTotals.get(step.stepId) ?? 0).toLocaleString("en"),
        ]
      ) {
        const td = document.createElement("td");
        td.textContent = cell;
        row.appendChild(td);
      }
      return row;
    });
    $("steps").tBodies[0].replaceChildren(...stepRows);
    const workerRows = last.workers.map((worker) => {
      const row = document.createElement("tr");
      for (const cell of [worker.workerIndex, worker.items, worker.snapshotWrites, worker.exchangeQueueDepth]) {
        const td = document.createElement("td");
        td.textContent = String(cell);
        row.appendChild(td);
      }
      return row;
    });
    $("workers").tBodies[0].replaceChildren(...workerRows);
    const t0 = state.started?.startedAt ?? state.epochs[0].committedAt;
    drawChart($("epochChart"), state.epochs.map((e) => [(e.committedAt - t0) / 1000, e.epoch]), (y) => `epoch ${y}`);
    drawChart($("commitChart"), state.epochs.map((e) => [e.epoch, e.commitMillis]), (y) => `${y} ms`);
  };

  const apply = (event) => {
    switch (event._tag) {
      case "RunStarted":
        state.started = event;
        state.epochs = [];
        state.stepTotals = new Map();
        state.failed = undefined;
        state.finished = undefined;
        break;
      case "EpochCommitted": {
        const last = state.epochs[state.epochs.length - 1];
        // the server may send an epoch twice when a page connects mid-run
        if (last !== undefined && event.epoch <= last.epoch) return;
        state.epochs.push(event);
        if (state.epochs.length > 512) state.epochs.shift();
        for (const step of event.steps) {
          state.stepTotals.set(step.stepId, (state.stepTotals.get(step.stepId) ?? 0) + step.itemsIn);
        }
        break;
      }
      case "RunFailed":
        state.failed = event;
        break;
      case "RunFinished":
        state.finished = event;
        break;
    }
  };

  let pending = false;
  const scheduleRender = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      render();
    });
  };

  fetch("/graph.json").then((response) => response.json()).then((graph) => {
    state.graph = graph;
    $("dataflow").textContent = graph.id;
    document.title = `Sluice · ${graph.id}`;
    drawGraph(graph);
    const source = new EventSource("/events");
    source.onmessage = (message) => {
      apply(JSON.parse(message.data));
      scheduleRender();
    };
  });
})();
