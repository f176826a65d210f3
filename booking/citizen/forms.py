"""The citizen's forms: applicant details, the email code, the personal-page request."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, RadioField, StringField, TelField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from booking.citizens import QUESTION_MAX


class DetailsForm(FlaskForm):
    """Contact details and the question; the rules themselves live in booking.citizens."""

    channel = HiddenField()
    start = HiddenField()
    expert = HiddenField()
    location = HiddenField()
    # What the submit asks for: "review" (the details form: show them for checking), "book" (the review's
    # main button), "edit" (the review's "Change details": the form again, as typed).
    step = HiddenField(default="review")
    name = StringField(_l("Full name"), validators=[InputRequired(_l("Enter your full name."))])
    email = EmailField(_l("Email"), validators=[InputRequired(_l("Enter your email."))])
    phone = TelField(_l("Phone"), validators=[InputRequired(_l("Enter your phone number."))])
    applicant_type = RadioField(
        _l("Who is applying"),
        choices=[SelectChoice("individual", _l("A private person")),
                 SelectChoice("legal_entity", _l("An organisation"))],
        default="individual",
        validators=[InputRequired(_l("Choose who is applying."))],
    )
    organisation = StringField(_l("Organisation's name"))
    inn = StringField(_l("Organisation's INN"))
    question = TextAreaField(_l("Your question"), validators=[InputRequired(_l("Describe your question.")),
                                                              Length(max=QUESTION_MAX)])
    consent = BooleanField(
        _l("I agree to the processing of my personal data (name, email, phone, question) to arrange and hold "
           "this consultation and to answer my question"),
        validators=[DataRequired(_l("Without your consent we cannot book the consultation."))],
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code from the email"),
        validators=[InputRequired(_l("Enter the code from the email.")),
                    Length(min=6, max=6, message=_l("The code has 6 digits."))],
    )


class PersonalLinkForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(_l("Enter your email."))])


class ConfirmCancelForm(FlaskForm):
    """Only the CSRF token: cancelling is one deliberate button press."""


class RescheduleForm(FlaskForm):
    start = HiddenField(validators=[InputRequired()])
    expert = HiddenField()
    location = HiddenField()
