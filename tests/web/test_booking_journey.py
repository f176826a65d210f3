"""Journeys 1 and 2 through the web pages: book, confirm by code, manage, reschedule, cancel."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from booking.models import Booking, BookingStatus
from scheduler.mail.compose import read_content
from scheduler.mail.models import OutboxMessage
from tests.booking_fixtures import CITIZEN_FORM, bookable_setup, last_code_email
from tests.helpers import csrf_token


def book_through_pages(client: Any, session: Any, setup: Any, start: Any, expert_id: int | None = None,
                       **overrides: str) -> Any:
    query = {"channel": "video", "start": start.isoformat()}
    if expert_id:
        query["expert"] = str(expert_id)
    page = client.get(f"/book/{setup.topic.slug}", query_string=query)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    form = {**CITIZEN_FORM, **overrides, "csrf_token": token, "channel": "video", "start": start.isoformat(),
            "expert": str(expert_id or ""), "step": "review"}
    review = client.post(f"/book/{setup.topic.slug}", data=form)
    if review.status_code != 200:
        return review
    page_text = review.get_data(as_text=True)
    assert "<h1>Проверьте и запишитесь</h1>" in page_text  # the review step, not the form again
    assert 'name="step" value="book"' in page_text
    return client.post(f"/book/{setup.topic.slug}", data={**form, "step": "book"})


def test_citizen_books_confirms_reschedules_and_cancels(client: Any, session: Any) -> None:
    setup = bookable_setup(session)
    start = setup.at(10)
    held = book_through_pages(client, session, setup, start)
    assert held.status_code == 302 and held.headers["Location"].endswith("/book/verify")
    booking = session.scalars(select(Booking)).one()
    assert booking.status == BookingStatus.PENDING
    assert booking.citizen_phone == "+79123456789"
    assert booking.starts_at == start

    code = last_code_email(session, "anna.smirnova@example.org")
    token = csrf_token(client, "/book/verify")
    wrong = client.post("/book/verify", data={"code": "000000" if code != "000000" else "111111", "csrf_token": token})
    assert wrong.status_code == 422
    confirmed = client.post("/book/verify", data={"code": code, "csrf_token": token})
    assert confirmed.status_code == 302
    session.refresh(booking)
    assert booking.status == BookingStatus.CONFIRMED
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "booking_confirmed")).one()
    assert any(a["content_type"] == "text/calendar" for a in read_content(mail).attachments)
    manage_link = re.search(r"(/manage/\w+\?token=[\w-]+)", read_content(mail).text_body).group(1)

    # The slot is gone for everybody else.
    slots = client.get("/api/v1/slots", query_string={"topic": "stove", "channel": "video",
                                                       "from": setup.day.isoformat(), "to": setup.day.isoformat(),
                                                       "expert": booking.expert_id}).get_json()["slots"]
    assert start.isoformat() not in [s["start"] for s in slots]

    fresh = client.application.test_client()
    page = fresh.get(manage_link, follow_redirects=True)
    assert page.status_code == 200
    assert booking.code[:4] in page.get_data(as_text=True)

    new_start = setup.at(11)
    token = csrf_token(fresh, f"/manage/{booking.code}/reschedule")
    moved = fresh.post(f"/manage/{booking.code}/reschedule",
                       data={"start": new_start.isoformat(), "expert": str(booking.expert_id), "csrf_token": token})
    assert moved.status_code == 302
    session.refresh(booking)
    assert booking.starts_at == new_start and booking.sequence == 2
    assert [e.kind for e in booking.events] == ["held", "confirmed", "rescheduled"]

    token = csrf_token(fresh, f"/manage/{booking.code}")
    cancelled = fresh.post(f"/manage/{booking.code}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 302
    session.refresh(booking)
    assert booking.status == BookingStatus.CANCELLED
    # The freed time is bookable again at once.
    slots = client.get("/api/v1/slots", query_string={"topic": "stove", "channel": "video",
                                                       "from": setup.day.isoformat(), "to": setup.day.isoformat(),
                                                       "expert": booking.expert_id}).get_json()["slots"]
    assert new_start.isoformat() in [s["start"] for s in slots]
    templates = [m.template for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert templates == ["booking_code", "booking_confirmed", "booking_rescheduled", "booking_cancelled"]


def test_manage_page_needs_the_token(client: Any, session: Any) -> None:
    setup = bookable_setup(session)
    book_through_pages(client, session, setup, setup.at(9))
    booking = session.scalars(select(Booking)).one()
    stranger = client.application.test_client()
    assert stranger.get(f"/manage/{booking.code}").status_code == 404
    assert stranger.get(f"/manage/{booking.code}?token=forged", follow_redirects=True).status_code == 404


def test_every_mistake_is_shown_at_the_first_submit(client: Any, session: Any) -> None:
    """A missing consent does not hide a wrong email, phone or question until the next try."""
    setup = bookable_setup(session)
    response = book_through_pages(client, session, setup, setup.at(10), email="not-an-email", phone="123",
                                  question="short", consent="")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    invalid = set(re.findall(r'name="(\w+)"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*name="(\w+)"', text))
    marked = {a or b for a, b in invalid}
    assert {"email", "phone", "question", "consent"} <= marked, marked
    assert text.count("Без вашего согласия") == 1
    assert session.scalars(select(Booking)).first() is None


def submitted_by(page_text: str, button_value: str) -> list[tuple[str, str]]:
    """What a browser sends when the review's button with this ``step`` value is pressed: the form's
    inputs in document order, then the pressed button (a hidden ``step`` before it would come first)."""
    opening = page_text.index('<form method="post" action="/book/')  # the booking form (the header has others)
    form = page_text[opening:page_text.index("</form>", opening)]
    fields = [(m.group(1), m.group(2)) for m in re.finditer(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', form)]
    assert f'name="step" value="{button_value}"' in form
    return [*fields, ("step", button_value)]


def test_change_details_on_the_review_reopens_the_form_as_typed_and_books_nothing(client: Any, session: Any) -> None:
    setup = bookable_setup(session)
    start = setup.at(10)
    page = client.get(f"/book/{setup.topic.slug}", query_string={"channel": "video", "start": start.isoformat()})
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    typo = {**CITIZEN_FORM, "email": "anna.smirnova@exampel.org", "csrf_token": token, "channel": "video",
            "start": start.isoformat(), "expert": "", "step": "review"}
    review = client.post(f"/book/{setup.topic.slug}", data=typo).get_data(as_text=True)
    assert "anna.smirnova@exampel.org" in review

    from werkzeug.datastructures import MultiDict

    again = client.post(f"/book/{setup.topic.slug}", data=MultiDict(submitted_by(review, "edit")))
    text = again.get_data(as_text=True)
    assert again.status_code == 200
    assert "<h1>Проверьте и запишитесь</h1>" not in text  # the editable form, not the review
    assert 'value="anna.smirnova@exampel.org"' in text and 'value="Анна Петровна Смирнова"' in text
    assert session.scalars(select(Booking)).all() == []  # nothing held, no code sent
    assert session.scalars(select(OutboxMessage)).all() == []

    review = client.post(f"/book/{setup.topic.slug}",
                         data={**typo, "email": "anna.smirnova@example.org"}).get_data(as_text=True)
    assert "anna.smirnova@example.org" in review and "exampel" not in review
    held = client.post(f"/book/{setup.topic.slug}", data=MultiDict(submitted_by(review, "book")))
    assert held.status_code == 302 and held.headers["Location"].endswith("/book/verify")
    assert session.scalars(select(Booking)).one().citizen_email == "anna.smirnova@example.org"
    assert last_code_email(session, "anna.smirnova@example.org")


def test_after_the_last_wrong_code_the_page_says_so_rather_than_blaming_the_clock(client: Any, session: Any) -> None:
    setup = bookable_setup(session)
    assert book_through_pages(client, session, setup, setup.at(10)).status_code == 302
    code = last_code_email(session, "anna.smirnova@example.org")
    wrong = "000000" if code != "000000" else "111111"
    token = csrf_token(client, "/book/verify")
    answers = [client.post("/book/verify", data={"code": wrong, "csrf_token": token}) for _ in range(5)]
    assert [a.status_code for a in answers] == [422] * 5
    assert session.scalars(select(Booking)).one().status == BookingStatus.CANCELLED
    page = client.get("/book/verify").get_data(as_text=True)
    assert "Слишком много неверных попыток ввода кода" in page
    assert "забронировано на" not in page  # not the hold's time running out


def test_a_hold_that_was_never_confirmed_is_not_called_cancelled(client: Any, session: Any) -> None:
    from datetime import timedelta

    from booking.services import expire_holds
    from scheduler.db import utcnow
    from tests.integration.test_booking_services import POLICY, hold

    setup = bookable_setup(session)
    now = utcnow()
    held = hold(session, setup, setup.at(10), now)
    assert expire_holds(session, now + timedelta(minutes=POLICY.hold_minutes + 1)) == 1
    session.commit()
    page = client.get(f"/manage/{held.booking.code}", query_string={"token": held.manage_token},
                      follow_redirects=True).get_data(as_text=True)
    assert "Не подтверждена: время освобождено" in page
    assert ">Отменена<" not in page
