// Typeset the math that pymdownx.arithmatex (generic: true) leaves in the page:
//   <span class="arithmatex">\( ... \)</span>   inline
//   <div class="arithmatex">\[ ... \]</div>     display
// with the vendored KaTeX (assets/katex), so no page needs the network.
// document$ is Material's observable of page loads (it also fires after instant navigation).
document$.subscribe(function () {
  document.querySelectorAll(".arithmatex").forEach(function (element) {
    if (element.querySelector(".katex")) return;  // already typeset
    var tex = element.textContent.trim();
    var display = element.tagName === "DIV";
    if (/^\\[\(\[]/.test(tex)) tex = tex.slice(2, -2);  // strip \( \) or \[ \]
    katex.render(tex, element, { displayMode: display, throwOnError: false });
  });
});
