// Draw every server-built plotly figure on the page: <div class="plot" data-figure="ID"> + json_script ID.
function draw() {
  if (!window.Plotly) { setTimeout(draw, 50); return; }  // plotly.min.js loads with `defer`
  for (const el of document.querySelectorAll(".plot[data-figure]")) {
    const source = document.getElementById(el.dataset.figure);
    if (!source) continue;
    const figure = JSON.parse(source.textContent);
    if (!figure || !figure.data) continue;
    window.Plotly.newPlot(el, figure.data, figure.layout, { responsive: true, displaylogo: false });
  }
}
draw();
