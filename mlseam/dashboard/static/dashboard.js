// Draws every [data-chart] figure from the page's JSON block (no inline script: the CSP forbids it).
"use strict";

function metricTraces(chart) {
  return [
    {name: "holdout", x: chart.x, y: chart.holdout, type: "scatter", mode: "lines+markers", connectgaps: true},
    {name: "live", x: chart.x, y: chart.live, type: "scatter", mode: "markers", marker: {symbol: "diamond", size: 10}},
    {
      name: "champion move", x: chart.moves.x, y: chart.moves.y, text: chart.moves.text, type: "scatter",
      mode: "markers", hoverinfo: "text", marker: {symbol: "star", size: 16, color: "#d62728"},
    },
  ];
}

function draw(figure, chart) {
  const common = {responsive: true, displaylogo: false};
  if (chart.kind === "sparkline") {
    const trace = {x: chart.x, y: chart.holdout, type: "scatter", mode: "lines+markers", marker: {size: 3}, connectgaps: true};
    const layout = {margin: {l: 2, r: 2, t: 2, b: 2}, height: 36, width: 120, showlegend: false,
      xaxis: {visible: false, type: "category"}, yaxis: {visible: false}};
    return Plotly.newPlot(figure, [trace], layout, {...common, staticPlot: true, responsive: false});
  }
  const layout = {margin: {l: 50, r: 10, t: 10, b: 40}, height: 320, legend: {orientation: "h"}};
  if (chart.kind === "metric") {
    layout.xaxis = {type: "category", title: {text: "version"}};
    layout.yaxis = {title: {text: chart.metric}};
    return Plotly.newPlot(figure, metricTraces(chart), layout, {...common, displayModeBar: false});
  }
  const trace = {name: "examples", x: chart.x, y: chart.y, type: "scatter", mode: "lines+markers", line: {shape: "hv"}};
  layout.yaxis = {title: {text: "examples"}, rangemode: "tozero"};
  return Plotly.newPlot(figure, [trace], layout, {...common, displayModeBar: false});
}

document.addEventListener("DOMContentLoaded", () => {
  const charts = JSON.parse(document.getElementById("chart-data").textContent);
  const drawn = [];
  for (const figure of document.querySelectorAll("[data-chart]")) {
    const chart = charts[figure.dataset.chart];
    if (chart) drawn.push(draw(figure, chart));
  }
  Promise.all(drawn).then(() => document.body.setAttribute("data-charts-drawn", String(drawn.length)));
});
