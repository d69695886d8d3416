// wharf console: a small terminal for the exec WebSocket. It keeps a
// screen of text lines with a cursor and understands what a shell's line
// editing writes (CR, LF, BS, TAB, the cursor moves and erases of ECMA-48
// CSI sequences, the cursor position report); colours and other
// sequences are dropped. Full-screen programs (vi, top) draw, but not as
// a real terminal emulator would. Loaded only when a terminal opens.
'use strict';

(() => {
  const SCROLLBACK = 2000;

  class Term {
    constructor(el, send) {
      this.el = el;
      this.send = send; // (string) => void: keys to the shell
      this.lines = [''];
      this.row = 0;
      this.col = 0;
      this.cols = 80;
      this.rows = 24;
      this.state = 0; // 0 text, 1 ESC, 2 CSI, 3 OSC, 4 charset
      this.params = '';
      this.dec = new TextDecoder('utf-8');
      this.pending = false;
      this.screen = document.createElement('pre');
      this.screen.className = 'term-screen';
      this.screen.setAttribute('aria-hidden', 'true');
      el.appendChild(this.screen);
      el.addEventListener('keydown', (e) => this.key(e));
      el.addEventListener('paste', (e) => {
        e.preventDefault();
        this.send((e.clipboardData.getData('text') || '').replace(/\r?\n/g, '\r'));
      });
    }

    // fit sizes the terminal to its element; it returns [cols, rows].
    fit() {
      const probe = document.createElement('span');
      probe.textContent = 'MMMMMMMMMM';
      this.screen.appendChild(probe);
      const w = probe.getBoundingClientRect().width / 10 || 8;
      probe.remove();
      this.cols = Math.max(20, Math.floor((this.el.clientWidth - 16) / w));
      return [this.cols, this.rows];
    }

    // write takes bytes (an ArrayBuffer) or text from the shell.
    write(data) {
      const text = typeof data === 'string' ? data : this.dec.decode(data, { stream: true });
      for (const ch of text) this.put(ch);
      if (this.lines.length > SCROLLBACK) {
        const cut = this.lines.length - SCROLLBACK;
        this.lines.splice(0, cut);
        this.row = Math.max(0, this.row - cut);
      }
      if (!this.pending) {
        this.pending = true;
        requestAnimationFrame(() => { this.pending = false; this.draw(); });
      }
    }

    top() { return Math.max(0, this.lines.length - this.rows); }

    line(r) {
      while (this.lines.length <= r) this.lines.push('');
      return this.lines[r];
    }

    setLine(r, s) { this.line(r); this.lines[r] = s; }

    print(ch) {
      if (this.col >= this.cols) { this.col = 0; this.row++; }
      const l = this.line(this.row).padEnd(this.col, ' ');
      this.setLine(this.row, l.slice(0, this.col) + ch + l.slice(this.col + 1));
      this.col++;
    }

    put(ch) {
      switch (this.state) {
        case 1: // after ESC
          if (ch === '[') { this.state = 2; this.params = ''; } else if (ch === ']') { this.state = 3; } else if (ch === '(' || ch === ')') { this.state = 4; } else { this.state = 0; }
          return;
        case 2: // CSI parameters, then a final byte
          if (ch >= '@' && ch <= '~') { this.state = 0; this.csi(ch, this.params); } else if (this.params.length < 64) { this.params += ch; }
          return;
        case 3: // OSC: a title, up to BEL or ESC
          if (ch === '\x07') this.state = 0; else if (ch === '\x1b') this.state = 1;
          return;
        case 4: // a character set's name
          this.state = 0;
          return;
      }
      switch (ch) {
        case '\x1b': this.state = 1; return;
        case '\r': this.col = 0; return;
        case '\n': this.row++; this.line(this.row); return;
        case '\b': this.col = Math.max(0, this.col - 1); return;
        case '\t': this.col = Math.min(this.cols - 1, (Math.floor(this.col / 8) + 1) * 8); return;
        case '\x07': case '\x00': case '\x0e': case '\x0f': return;
      }
      if (ch < ' ' || ch === '\x7f') return;
      this.print(ch);
    }

    csi(fin, params) {
      const priv = params.startsWith('?');
      const ps = (priv ? params.slice(1) : params).split(';').map((v) => parseInt(v, 10));
      const n = (i, def) => (Number.isFinite(ps[i]) && ps[i] > 0 ? ps[i] : def);
      if (priv) return; // modes (cursor visibility, bracketed paste...)
      const l = () => this.line(this.row);
      switch (fin) {
        case 'A': this.row = Math.max(this.top(), this.row - n(0, 1)); break;
        case 'B': this.row += n(0, 1); this.line(this.row); break;
        case 'C': this.col = Math.min(this.cols - 1, this.col + n(0, 1)); break;
        case 'D': this.col = Math.max(0, this.col - n(0, 1)); break;
        case 'G': this.col = Math.min(this.cols - 1, n(0, 1) - 1); break;
        case 'H': case 'f': this.row = this.top() + n(0, 1) - 1; this.col = Math.min(this.cols - 1, n(1, 1) - 1); this.line(this.row); break;
        case 'J': {
          const mode = ps[0] || 0;
          if (mode === 2 || mode === 3) { const t = this.top(); this.lines.length = t; this.line(t + this.rows - 1); for (let i = t; i < this.lines.length; i++) this.lines[i] = ''; } else if (mode === 0) { this.setLine(this.row, l().slice(0, this.col)); this.lines.length = this.row + 1; }
          break;
        }
        case 'K': {
          const mode = ps[0] || 0;
          if (mode === 0) this.setLine(this.row, l().slice(0, this.col));
          else if (mode === 1) this.setLine(this.row, ' '.repeat(this.col) + l().slice(this.col));
          else this.setLine(this.row, '');
          break;
        }
        case 'P': this.setLine(this.row, l().slice(0, this.col) + l().slice(this.col + n(0, 1))); break;
        case '@': this.setLine(this.row, l().slice(0, this.col) + ' '.repeat(n(0, 1)) + l().slice(this.col)); break;
        case 'X': { const s = l().padEnd(this.col, ' '); this.setLine(this.row, s.slice(0, this.col) + ' '.repeat(n(0, 1)) + s.slice(this.col + n(0, 1))); break; }
        case 'n': if (ps[0] === 6) this.send(`\x1b[${this.row - this.top() + 1};${this.col + 1}R`); break;
        default: // m (colours), r (scroll region), h/l: dropped
      }
    }

    draw() {
      const atEnd = this.el.scrollTop + this.el.clientHeight >= this.el.scrollHeight - 4;
      const frag = document.createDocumentFragment();
      const before = this.lines.slice(0, this.row).join('\n');
      const cur = this.line(this.row).padEnd(this.col + 1, ' ');
      frag.append(before + (this.row ? '\n' : '') + cur.slice(0, this.col));
      const c = document.createElement('span');
      c.className = 'term-cursor';
      c.textContent = cur[this.col];
      frag.append(c, cur.slice(this.col + 1) + (this.row + 1 < this.lines.length ? '\n' + this.lines.slice(this.row + 1).join('\n') : ''));
      this.screen.replaceChildren(frag);
      if (atEnd) this.el.scrollTop = this.el.scrollHeight;
    }

    // text is what the screen shows (tests read it).
    text() { return this.lines.join('\n'); }

    key(e) {
      if (e.metaKey || e.isComposing) return;
      const k = e.key;
      const seq = {
        Enter: '\r', Backspace: '\x7f', Tab: '\t', Escape: '\x1b', ArrowUp: '\x1b[A', ArrowDown: '\x1b[B',
        ArrowRight: '\x1b[C', ArrowLeft: '\x1b[D', Home: '\x1b[H', End: '\x1b[F', Delete: '\x1b[3~',
        PageUp: '\x1b[5~', PageDown: '\x1b[6~',
      }[k];
      let out = seq;
      if (!out && e.ctrlKey && !e.altKey && k.length === 1) {
        const c = k.toUpperCase().charCodeAt(0);
        if (c >= 64 && c <= 95) out = String.fromCharCode(c - 64);
      }
      if (!out && !e.ctrlKey && k.length === 1) out = (e.altKey ? '\x1b' : '') + k;
      if (!out) return;
      // Tab stays in the terminal; Shift+Tab and Escape-then-Tab leave it.
      if (k === 'Tab' && e.shiftKey) return;
      e.preventDefault();
      this.send(out);
    }
  }

  window.WharfTerm = Term;
})();
