"""How every segcompare figure looks: one theme for white and dark pages, titles that fit, explained terms.

gr.Plot shows plotly figures exactly as given, on a white page or on a near-black dark-mode page, in a full-
width or half-width column or on a phone: figures get transparent backgrounds, one mid grey for text, and
titles wrapped to lines a phone shows whole, with the top margin sized to them.
"""

from __future__ import annotations

import textwrap

import plotly.graph_objects as go
import plotly.io as pio

# the grey with the best worst-case contrast against white and Gradio's dark #0b0f19 (~4.4:1 on both);
# grid lines a fainter grey that neither background swallows
INK = "#787878"
GRID = "rgba(128, 128, 128, 0.28)"
CLEAR = "rgba(0, 0, 0, 0)"
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13, color=INK)
TITLE_CHARS = 40  # characters per title line: ~320 px of 16 px type, so a phone's 390 px screen shows it all
SUBTITLE_CHARS = 52  # the subtitle's 12 px type, the same width


def _theme() -> go.layout.Template:
    """plotly_white with transparent backgrounds and grey text, grid and axis lines (light and dark pages)."""
    theme = go.layout.Template(pio.templates["plotly_white"])
    axis = dict(gridcolor=GRID, linecolor=GRID, zerolinecolor=GRID, tickcolor=GRID)
    theme.layout.update(paper_bgcolor=CLEAR, plot_bgcolor=CLEAR, font=FONT, xaxis=axis, yaxis=axis,
                        title=dict(font=dict(size=16, color=INK)),
                        # below the plot, not beside it: long model names took half of a half-width plot
                        legend=dict(bgcolor=CLEAR, orientation="h", yref="container", y=0, yanchor="bottom",
                                    x=0, xanchor="left"))
    return theme


THEME = _theme()


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ~`width` characters; `<br>` already in the text is undone first (re-wrapping is safe)."""
    return textwrap.wrap(" ".join(text.replace("<br>", " ").split()), width, break_on_hyphens=False,
                         break_long_words=False) or [""]


def fit_title(fig: go.Figure, width: int = TITLE_CHARS) -> go.Figure:
    """Break the title (and subtitle) into lines that fit a half-width plot, and make room for them above the
    plot: plotly never wraps a title, it cuts it off at the figure's edge."""
    title = _wrap(fig.layout.title.text or "", width)
    has_sub = bool(fig.layout.title.subtitle.text)
    sub = _wrap(fig.layout.title.subtitle.text or "", round(width * SUBTITLE_CHARS / TITLE_CHARS)) if has_sub else []
    # pixel sizes measured in Chromium (16 px title, 12 px subtitle); plotly lifts a title of 2+ lines
    # anchored to the top edge by 14 px, which the larger top pad gives back
    fig.update_layout(title=dict(text="<br>".join(title), yref="container", y=1, yanchor="top",
                                 pad_t=8 if len(title) == 1 else 20),
                      margin_t=36 + 21 * len(title) + (22 + 16 * len(sub) if sub else 0))
    if has_sub:
        fig.update_layout(title_subtitle_text="<br>".join(sub))
    return fig


def layout(fig: go.Figure, title: str, subtitle: str | None = None, **kw) -> go.Figure:
    """Title (wrapped), optional subtitle explaining the figure's terms, theme and margins for every figure."""
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left"), font=FONT, template=THEME,
                      margin=dict(l=60, r=20, b=50), **kw)
    if subtitle:
        fig.update_layout(title_subtitle=dict(text=subtitle, font=dict(size=12, color=INK)))
    return fit_title(fig)


def empty(title: str, message: str) -> go.Figure:
    """A figure with no data that says why (`message`) instead of showing blank axes."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=15, color=INK))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return layout(fig, title, height=300)
