"""Keys typed faster than the screen refreshes: every key posted to the app in one batch, as a
terminal delivers a fast typist's (or ``tmux send-keys``') input, before the app handles any.

The filter box must take the keys that follow ``/`` even when they are already queued, so a filter
typed fast never runs a command (``/q`` must not quit, ``/p`` must not pause, ``/s5`` must not
switch view); and Enter or Escape must hand the keys after them back to the table at once.
"""

from __future__ import annotations

from test_ui_app import make_app, running, settle, sync
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from ipctop.ui.app import IpcTopApp

_NAMES = {"/": "slash", " ": "space"}


async def type_fast(pilot: Pilot[int], keys: list[str]) -> None:
    """Post every key at once; let the app handle them afterwards."""
    app = pilot.app
    for key in keys:
        name = _NAMES.get(key, key)
        char = key if len(key) == 1 else {"enter": "\r", "escape": "\x1b"}.get(key)
        app.post_message(events.Key(name, char))
    await settle(pilot)


def filter_box(app: IpcTopApp) -> Input:
    return app.query_one("#filter", Input)


@sync
async def test_slash_q_types_q_and_does_not_quit() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "q"])
        assert app.is_running and app.return_code is None
        assert filter_box(app).value == "q"
        assert app.table.filter_text == "q"
        assert app.focused is filter_box(app)


@sync
async def test_slash_p_does_not_pause_and_s5_does_not_switch_view() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "p", "s", "5", "n", "d"])
        assert not app.paused
        assert app.current_view is not None and app.current_view.id == "all"
        assert filter_box(app).value == "ps5nd"
        assert len(app.screen_stack) == 1  # no form, no confirm box opened


@sync
async def test_enter_then_keys_go_back_to_the_table_at_once() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "a", "l", "enter", "2"])
        assert filter_box(app).value == "al"
        assert app.current_view is not None and app.current_view.id == "sysv-shm"
        assert app.focused is app.table


@sync
async def test_escape_then_keys_go_back_to_the_table_at_once() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "x", "escape", "p"])
        assert filter_box(app).value == ""
        assert not filter_box(app).display
        assert app.paused


@sync
async def test_slash_inside_the_filter_is_text() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", "/", "j", "o", "b", "s"])
        assert filter_box(app).value == "/jobs"
        assert app.table.row_count == 1


@sync
async def test_f3_searches_without_hiding_and_finds_next_and_previous() -> None:
    app = make_app()
    async with running(app) as pilot:
        rows = app.table.row_count
        await type_fast(pilot, ["f3", "a", "l", "i", "c", "e"])  # typed fast: all in the box
        search = app.query_one("#search", Input)
        assert search.value == "alice" and app.focused is search
        assert app.table.row_count == rows  # nothing hidden
        first = app.table.current_key
        obj = app.table.current_object
        assert obj is not None and obj.owner == "alice"
        await type_fast(pilot, ["enter", "f3"])  # keep the term; F3: the next match
        assert not search.display and app.focused is app.table
        second = app.table.current_key
        assert second != first
        nxt = app.table.current_object
        assert nxt is not None and nxt.owner == "alice"
        await type_fast(pilot, ["shift+f3"])
        assert app.table.current_key == first
        await type_fast(pilot, ["f3", "escape", "q"])  # Esc closes the line; q quits
        assert not app.is_running


@sync
async def test_ctrl_f_changes_the_search_term() -> None:
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["f3", *"redis", "enter"])
        assert app.table.current_key == "posix_shm:/redis-cache"
        await type_fast(pilot, ["ctrl+f", "backspace", *"" , "escape"])
        await type_fast(pilot, ["ctrl+f", *["backspace"] * 5, *"jobs", "enter"])
        assert app.table.current_key == "posix_mq:/jobs"


@sync
async def test_keys_typed_after_a_pause_add_to_what_was_typed_fast() -> None:
    """The box's focus event arrives after the keys typed with "/"; if it selected the text
    then, the next key typed would replace it: "/red" at once, then "is", must read "redis"."""
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["/", *"red"])
        await type_fast(pilot, [*"is"])
        assert filter_box(app).value == "redis" and app.table.filter_text == "redis"
        await type_fast(pilot, ["enter", "/", *"-x"])  # reopened: typing adds, as htop's F4
        assert filter_box(app).value == "redis-x"


@sync
async def test_an_action_key_acts_on_the_selection_before_a_view_key_typed_after_it() -> None:
    """`e` then `7` in one burst: the semaphore under the cursor is edited (and 7 is typed into
    the form), rather than `7` switching view first and `e` finding nothing selected."""
    from ipctop.ui.screens.sem_edit import SemEditForm

    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["4"])
        assert app.selected_object is not None and app.selected_object.kind.value == "sysv_sem"
        await type_fast(pilot, ["e", "7"])
        form = app.screen
        assert isinstance(form, SemEditForm)
        assert app.current_view is not None and app.current_view.id == "sysv-sem"
        focused = app.focused
        assert isinstance(focused, Input) and focused.value == "7"  # as typed a moment later


@sync
async def test_text_typed_right_after_the_key_that_opens_a_form_lands_in_it() -> None:
    from ipctop.ui.screens.create_form import CreateForm

    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["n", "4", "2"])
        assert isinstance(app.screen, CreateForm)
        focused = app.focused
        assert isinstance(focused, Input) and focused.id == "name" and focused.value == "42"
        assert app.current_view is not None and app.current_view.id == "all"


async def form_after(view: str, keys: list[str], *, burst: bool
                    ) -> tuple[dict[str, str], str | None]:
    """Type ``keys`` on view ``view`` (one burst, or one key at a time with the app settled in
    between): the open form's fields (id -> text) and the id of the focused one."""
    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, [view])
        for chunk in [keys] if burst else [[key] for key in keys]:
            await type_fast(pilot, chunk)
        fields = {field.id or "": field.value for field in app.screen.query(Input)}
        return fields, app.focused.id if app.focused else None


@sync
async def test_tab_and_text_typed_fast_in_a_form_opening_land_where_typed_slowly() -> None:
    """Tab typed right after the key that opens a form, and the text after each Tab: Tab moved
    the focus as it arrived, before the form had the keys typed ahead of it, and the form's
    own first focus came after them all (the next key then went back to the first field)."""
    for view, keys, expected, focus in (
        ("1", ["n", "x", "tab", "7", "7", "tab", "1"],
         {"name": "x", "mode": "77", "size": "1"}, "size"),
        ("4", ["e", "2", "tab", "1", "2", "tab", "3"], {"index": "2", "op": "12", "set": "3"},
         "set"),
        ("4", ["e", "tab", "5", "shift+tab", "1"], {"index": "1", "op": "5"}, "index"),
    ):
        fields, focused = await form_after(view, keys, burst=True)
        assert {k: fields[k] for k in expected} == expected and focused == focus, keys
        assert (fields, focused) == await form_after(view, keys, burst=False), keys


@sync
async def test_keys_typed_after_a_burst_in_a_form_go_to_the_field_the_burst_ended_in() -> None:
    from ipctop.ui.screens.sem_edit import SemEditForm

    app = make_app()
    async with running(app) as pilot:
        await type_fast(pilot, ["4"])
        await type_fast(pilot, ["e", "2", "tab", "1"])
        assert isinstance(app.screen, SemEditForm)
        await type_fast(pilot, ["2"])
        assert app.screen.query_one("#op", Input).value == "12"
        assert app.screen.query_one("#index", Input).value == "2"


@sync
async def test_tab_queued_before_the_form_is_composed_moves_on_from_the_first_field() -> None:
    """Keys that arrive while a form is still being built (nothing to focus yet) wait for it,
    and then act in order: Tab moves on from Name rather than being lost."""
    from ipctop.ui.screens.create_form import CreateForm

    app = make_app()
    async with running(app) as pilot:
        app.push_screen(CreateForm(None, None))
        await type_fast(pilot, ["tab", "7", "7", "tab", "1"])  # before the form's first turn
        fields = {field.id: field.value for field in app.screen.query(Input)}
        assert (fields["name"], fields["mode"], fields["size"]) == ("private", "77", "1")
        assert app.focused is not None and app.focused.id == "size"


@sync
async def test_keys_with_bindings_queued_before_the_form_is_composed_still_act() -> None:
    """Held keys reach the bindings as typed keys do: Enter submits what was typed before it,
    Escape closes the form."""
    from ipctop.ui.screens.create_form import CreateForm

    app = make_app()
    async with running(app) as pilot:
        form = CreateForm(None, None)
        app.push_screen(form)
        await type_fast(pilot, ["x", "enter"])
        assert app.screen is form and "not a SysV key: 'x'" in str(
            form.query_one("#form-error", Static).render())
        app.pop_screen()
        app.push_screen(CreateForm(None, None))
        await type_fast(pilot, ["escape"])
        assert len(app.screen_stack) == 1
