// A map drawn as SVG, with no tile server needed: service areas, hubs and points placed by the
// Web Mercator projection (the one map tiles use, so that tiles line up when a tile URL is
// configured). Coordinates are "world units": the whole world is 256 units wide at zoom 0.

const SVG = "http://www.w3.org/2000/svg";

export function project(lat, lng) {
  const s = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
  return [((lng + 180) / 360) * 256, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 256];
}

export function el(name, attributes = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

export class MapView {
  constructor(svg, { tileUrl = null } = {}) {
    this.svg = svg;
    this.tileUrl = tileUrl;
    this.box = null;
    this.layers = {};
    for (const name of ["tiles", "areas", "routes", "places", "movers"]) {
      this.layers[name] = el("g", { "data-layer": name }, svg);
    }
  }

  // Fit the view to [lat, lng] points, with a margin.
  fit(points) {
    if (!points.length) return;
    const xy = points.map(([lat, lng]) => project(lat, lng));
    const xs = xy.map((p) => p[0]);
    const ys = xy.map((p) => p[1]);
    let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const span = Math.max(x1 - x0, y1 - y0, 0.0005);
    const pad = span * 0.08;
    // Keep the drawing's own shape (4:3), centred on what it shows.
    let w = Math.max(x1 - x0, ((y1 - y0) * 4) / 3) + 2 * pad;
    let h = (w * 3) / 4;
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    this.box = [cx - w / 2, cy - h / 2, w, h];
    this.svg.setAttribute("viewBox", this.box.join(" "));
    this.unit = w / (this.svg.clientWidth || 800); // one screen pixel, in world units
    this.drawTiles();
  }

  // Map tiles behind everything, when a tile URL ({z}/{x}/{y}) was configured.
  drawTiles() {
    const layer = this.layers.tiles;
    layer.replaceChildren();
    if (!this.tileUrl || !this.box) return;
    const [bx, by, bw, bh] = this.box;
    const z = Math.max(0, Math.min(19, Math.round(Math.log2((800 * 256) / (bw * 256)))));
    const size = 256 / 2 ** z;
    for (let tx = Math.floor(bx / size); tx * size < bx + bw; tx++) {
      for (let ty = Math.floor(by / size); ty * size < by + bh; ty++) {
        const href = this.tileUrl.replace("{z}", z).replace("{x}", tx).replace("{y}", ty);
        el("image", { href, x: tx * size, y: ty * size, width: size, height: size }, layer);
      }
    }
  }

  // The service areas of a GeoJSON FeatureCollection of (Multi)Polygons.
  drawAreas(geojson) {
    const layer = this.layers.areas;
    layer.replaceChildren();
    const points = [];
    for (const feature of geojson.features || []) {
      const g = feature.geometry || {};
      const polygons = g.type === "MultiPolygon" ? g.coordinates : g.type === "Polygon" ? [g.coordinates] : [];
      for (const rings of polygons) {
        const d = rings
          .map((ring) => "M" + ring.map(([lng, lat]) => { points.push([lat, lng]); return project(lat, lng).join(","); }).join("L") + "Z")
          .join(" ");
        const path = el("path", {
          d, class: "area", fill: "#dfe9df", stroke: "#4d7a57", "stroke-width": 1.5,
          "fill-rule": "evenodd", "vector-effect": "non-scaling-stroke",
        }, layer);
        el("title", {}, path).textContent = `Service area ${feature.properties?.name ?? ""}`;
      }
    }
    return points;
  }

  // A width that looks the same at any zoom: `px` screen pixels.
  px(px) {
    return (this.unit || 0.0001) * px;
  }
}
