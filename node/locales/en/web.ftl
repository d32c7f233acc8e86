# DigiOne web UI, English. Every key must exist in fi, sv and en, and be used by node/src/web
# (checked by node/tests/web_i18n.rs).

## Frame of every page
skip-to-content = Skip to content
nav-main-label = Main menu
nav-home = Home
nav-log-out = Log out
nav-language-label = Language
footer-accessibility = Accessibility statement
offline-banner = { $count ->
    [0] The school is offline right now. You can keep working: everything you do is saved here at school.
    [one] The school is offline right now. You can keep working: 1 change is saved here at school and will be sent when the connection is back.
   *[other] The school is offline right now. You can keep working: { $count } changes are saved here at school and will be sent when the connection is back.
}
form-errors-title = Please fix these first
error-too-long = This is too long: at most { $max } characters.
error-missing = This is required.
error-not-valid = This is not valid. Check it and try again.

## Errors
error-back-home = Back to the home page
error-not-found-title = Page not found
error-not-found = There is nothing here. The link may be old.
error-forbidden-title = Not allowed
error-forbidden = You do not have access to this page.
error-conflict-title = This cannot be done now
error-conflict = This cannot be done now, for example because the deadline has passed or the work was already handed in.
error-too-large-title = Too large
error-too-large = What you sent is too large.
error-file-too-large = The file is too large.
error-too-many-title = Too many attempts
error-too-many = You have tried too many times. Wait a moment and try again.
error-bad-request-title = Something was wrong
error-bad-request = The school server could not accept this. Check what you entered and try again.
error-internal-title = Something went wrong
error-internal = The school server ran into a problem. Try again in a moment.

## Login
login-title = Log in
login-intro = Log in with your school username and password.
login-username = Username
login-password = Password
login-submit = Log in
login-username-missing = Enter your username.
login-password-missing = Enter your password.
login-invalid = The username or password is wrong.
login-throttled = Too many wrong attempts. Try again in { $seconds } seconds.
login-busy = The school server is busy. Try again in a moment.
login-again = The service asks you to log in again before you continue.
login-upstream = Log in with { $provider }
login-upstream-or = Or log in with your school username and password.
login-upstream-unreachable = { $provider } cannot be reached now. Log in with your school username and password.
login-upstream-refused = { $provider } did not log you in. Try again, or log in with your school username and password.
login-upstream-not-started = The login took too long or was started elsewhere. Start again.
login-upstream-invalid = { $provider } sent an answer that could not be verified. Try again, or log in with your school username and password.
login-upstream-missing-claim = { $provider } did not say who you are. Ask school IT.
login-upstream-other-school = Your { $provider } account is not of this school.
login-upstream-no-user = Your { $provider } account is not linked to a user of this school. Ask school IT.

## Home
home-title = Home
home-greeting = Hello, { $name }!
home-today = Today's lessons
home-no-lessons = No lessons today.
lesson-time = Time
lesson-class = Lesson
lesson-room = Room
lesson-teacher = Teacher
home-assignments-due = Assignments to do
home-nothing-due = Nothing to hand in right now.
home-feedback = Feedback for you
home-to-review = Submissions to review
home-nothing-to-review = No submissions are waiting.
home-waiting-count = { $count ->
    [one] 1 waits for review
   *[other] { $count } wait for review
}
home-my-classes = My classes
home-new-assignment = New assignment for { $class }
home-children = My children
home-unread-messages = Unread messages
home-no-unread = No unread messages.
home-unread-from = { $count ->
    [one] 1 new, latest from { $name }
   *[other] { $count } new, latest from { $name }
}
home-announcements = Announcements
home-no-announcements = No announcements.

## School IT
admin-node = School server
admin-school = School code
admin-sync = Connection to DigiOne
admin-sync-in-sync = Online, in sync
admin-sync-sending = Online, sending this school's changes
admin-sync-reconciling = Online, reconciling with DigiOne: not everything is in sync yet
admin-sync-reconciling-count = { $count ->
    [one] Online, reconciling with DigiOne: 1 document still to come
   *[other] Online, reconciling with DigiOne: { $count } documents still to come
}
admin-sync-offline = Offline
admin-sync-standalone = Not connected (standalone)
admin-waiting = Changes / files waiting to be sent
admin-last-sync = Last complete sync
admin-never = Never
admin-users = Users
admin-classes = Classes

## Assignments
assignment-due = Due { $when }
assignment-grade = Grade: { $grade }
assignment-open-in-tool = Open the assignment in its tool
assignment-instructions = Instructions
assignment-no-instructions = No instructions.
assignment-attachments = Attached files
assignment-my-work = My work
assignment-status = Status: { $status }
assignment-tool-score = Score from the tool: { $score }
assignment-draft-files = Files in my draft
assignment-attempts = Handed in
assignment-pupils = Pupils
status-not-submitted = not handed in
status-submitted = handed in, waiting for the teacher
status-returned = returned with feedback
attempt-title = Attempt { $number }
attempt-submitted-at = Handed in { $when }
attempt-late = Late
feedback-title = Feedback
submission-text = Your answer
submission-file = Add a file
submission-file-hint = Optional. One file at a time; it is kept with your work.
submission-submit = Hand in
submission-save-draft = Save draft
submission-empty = Write an answer or add a file before handing in.
submission-closed = Handing in is closed for this assignment.
column-pupil = Pupil
column-status = Status
column-submitted = Handed in
column-grade = Grade
notice-draft-saved = Your draft is saved.
notice-submitted = Your work is handed in.
notice-returned = The work is returned to the pupil.
notice-created = The assignment is created.
notice-linked = The content you picked in the tool is added as assignments of the class. This is the first of them.

## Creating an assignment
new-assignment-title = New assignment for { $class }
new-assignment-name = Title
new-assignment-name-missing = Give the assignment a title.
new-assignment-instructions = Instructions
new-assignment-due-date = Due date
new-assignment-due-date-hint = For example 2026-12-04.
new-assignment-due-date-invalid = Enter the date as year-month-day, for example 2026-12-04.
new-assignment-due-time = Due time
new-assignment-due-time-hint = For example 16:00.
new-assignment-pick-content = Pick content from a tool
new-assignment-pick-content-hint = Pick activities in an LTI tool placed in the class; each one picked becomes an assignment opened in the tool.
new-assignment-due-time-invalid = Enter the time as hours:minutes, for example 16:00.
new-assignment-due-in-past = The due date must be in the future.
new-assignment-create = Create assignment

## Reviewing
review-title = { $pupil }: { $assignment }
review-back = Back to the assignment
review-nothing-submitted = Nothing has been handed in yet.
review-return-heading = Return with feedback
review-feedback = Feedback
review-feedback-missing = Write feedback before returning.
review-grade = Grade
review-grade-hint = Optional, at most 20 characters.
review-allow-resubmission = The pupil may hand in again
review-return = Return to the pupil

## Messages
nav-messages = Messages
messages-title = Messages
messages-none = No messages yet.
messages-unread-count = { $count ->
    [one] 1 unread
   *[other] { $count } unread
}
messages-participants = Taking part: { $names }
message-reply = Your reply
message-send = Send
message-body-missing = Write a message before sending.
message-full = This conversation is full; start a new one.
message-mark-read = Mark as read
notice-sent = Your message is sent.

## Attendance
lesson-mark-attendance = Mark attendance
attendance-title = Attendance: { $class }, { $date } at { $time }
attendance-present = Present
attendance-absent = Absent
attendance-late = Late
attendance-save = Save attendance
notice-marked = Attendance is saved.

## Roster import
admin-import-roster = Import the roster
roster-title = Import the roster
roster-intro = Upload the school's OneRoster 1.2 CSV files from the student information system. The whole package is checked first; if anything is wrong, nothing changes and every problem is listed.
roster-files = Roster files (CSV)
roster-files-hint = Choose the CSV files at once: manifest.csv, orgs.csv, users.csv, classes.csv and the others.
roster-files-missing = Choose the roster's CSV files.
roster-invalid = The package was not imported; nothing changed. Fix these problems and try again.
roster-more-problems = …and { $count } more problems.
roster-import = Import
notice-imported = The roster is imported.

## Accessibility statement
statement-title = Accessibility statement
statement-intro = This statement covers the DigiOne web service that your school's server provides. The Finnish Act on the Provision of Digital Services (306/2019) requires it.
statement-status-heading = How accessible the service is
statement-status = The service aims to meet the WCAG 2.1 AA criteria. Every page is checked automatically for labels, headings, landmarks, language and colour contrast, and tested in a real browser.
statement-how-heading = What we have done
statement-how-keyboard = Everything works with the keyboard, and the focus is always visible.
statement-how-no-script = Pages work without JavaScript and on old devices.
statement-how-languages = The service speaks Finnish, Swedish and English; you can change the language on every page.
statement-how-contrast = Text and background colours have a contrast ratio of at least 4.5:1.
statement-gaps-heading = Known gaps
statement-gaps = Files that teachers and pupils upload (documents, images) may not be accessible. Some parts of the service (absence reports, materials, starting a new conversation) are still only available to apps through the school server's interface.
statement-feedback-heading = Feedback
statement-feedback = If you notice an accessibility problem, tell your school's IT support or your teacher. The school must answer within 14 days.
statement-supervision = If you are not satisfied with the answer, you can contact the supervisory authority, the Regional State Administrative Agency for Southern Finland (saavutettavuusvaatimukset.fi).

## Announcements
nav-announcements = Announcements
announcements-title = Announcements
announcements-whole-school = Whole school
announcements-municipality = Municipality { $code }
announcements-shown-until-at = shown until { $when }
announcements-withdraw = Withdraw “{ $title }”
announcements-publish = Publish an announcement
announcements-audience = To whom
announcements-audience-invalid = Choose whom the announcement is for.
announcements-title-field = Title
announcements-title-missing = Write a title.
announcements-body = Announcement
announcements-body-missing = Write the announcement.
announcements-shown-until = Shown until
announcements-shown-until-hint = Optional. The announcement disappears after this day.
announcements-shown-until-invalid = Give the date as a day of the calendar.
announcements-shown-until-past = This day is already over.
announcements-publish-button = Publish
notice-published = The announcement is published.
notice-withdrawn = The announcement is withdrawn.

## New message
new-message-title = New message
new-message-to = To
new-message-choose = Choose a person
new-message-to-missing = Choose whom to write to.
new-message-to-refused = You cannot send a message to this person.
new-message-group-pupils = Pupils of your classes
new-message-group-guardians = Their guardians
new-message-group-teachers = Teachers
new-message-group-adults = School staff
new-message-group-chosen = Chosen
new-message-subject = Subject
new-message-subject-missing = Write a subject.
new-message-body = Message

## Absences
home-absences-to-clear = { $count ->
    [0] Absences of { $name }: nothing to explain
    [one] Absences of { $name }: 1 to explain
   *[other] Absences of { $name }: { $count } to explain
}
absences-title = Absences: { $name }
absences-hours = { $hours } h
absences-no-year = The school year has not begun yet.
absences-total = Absences this school year
absences-explained = Explained
absences-late = Late arrivals
absences-threshold = The absences have reached { $hours } hours. The school will contact the family.
absences-to-clear = Absences to explain
absences-nothing-to-clear = Every absence is explained.
absences-explain = Explain absences
absences-first-date = First day
absences-last-date = Last day
absences-last-date-hint = Leave empty for one day.
absences-reason = Reason
absences-reason-missing = Write the reason for the absence.
absences-date-invalid = Give the date as a day of the calendar.
absences-last-before-first = The last day cannot be before the first.
absences-refused = These dates cannot be explained: they must be in this school year, and one explanation covers at most { $days } days.
absences-explain-button = Explain
absences-reports = Reports and explanations
absences-no-reports = No reports yet.
absences-report-cleared = Cleared.
absences-report-open = Not cleared yet.
absences-clear-report = Clear the report for { $dates }
absences-all = All absences and late arrivals
absences-none = No absences this school year.
absences-date = Date
absences-class = Lesson
absences-kind = Kind
absences-state = Explained
absences-state-explained = Explained
absences-state-open = Not explained
notice-explained = The absences are explained.
notice-cleared = The report is cleared.

## Materials
home-class-materials = Materials of { $class }
materials-title = Materials: { $class }
materials-none = No materials yet.
materials-link = Link
materials-remove = Remove “{ $title }”
materials-share = Share material
materials-title-field = Title
materials-title-missing = Write a title.
materials-url = Link address
materials-url-hint = A web address starting with https://. Share either a link or a file.
materials-url-invalid = The link must be a web address starting with http:// or https://.
materials-file = File
materials-file-hint = At most { $size }.
materials-nothing-shared = Give a link or choose a file.
materials-both-shared = Share either a link or a file, not both.
materials-share-button = Share
notice-shared = The material is shared with the class.
notice-removed = The material is removed.

## Users
admin-users-link = Users and passwords
users-title = Users
users-search = Search by name or username
users-search-button = Search
users-count = { $count ->
    [one] 1 user
   *[other] { $count } users
}
users-name = Name
users-username = Username
users-roles = Roles
users-classes = Classes
users-state = Login
users-actions = Password
users-enabled = Allowed
users-disabled = Disabled
users-set-password = Set a password for { $name }
users-pages = Pages
users-previous = Previous page
users-next = Next page
users-page-of = Page { $page } of { $pages }
role-pupil = Pupil
role-teacher = Teacher
role-guardian = Guardian
role-staff = Staff
role-admin = Administrator
password-title = Password for { $name }
password-intro = Set a new password for { $name } (username { $username }). Give it to them in person.
password-new = New password
password-hint = At least { $min } characters.
password-too-short = The password must be at least { $min } characters long.
password-too-long = The password is too long.
password-set = Set the password
password-back = Back to the users
notice-password-set = The password is set.

## Tools
home-tools = Tools
home-tool-needs-internet = Needs the internet: it opens again when the school is back online.

## Connected services (school IT)
services-title = Connected services
services-intro = Services from the national catalogue. An activated service can log your school's users in with their DigiOne login and receives only the information you approve.
services-none = The national catalogue has no services yet.
services-name = Service
services-provider = Provider
services-category = Kind
services-category-own = DigiOne's own
services-category-common = Common
services-category-optional = Optional
services-protocol = Connection
services-protocol-oidc = Login (OpenID Connect)
services-protocol-lti = Learning tool (LTI 1.3)
services-protocol-link = Link
services-offline = Works offline
services-yes = Yes
services-no = No
services-launch = Opens at
services-state = At this school
services-active = In use
services-active-since = In use since { $when }
services-inactive = Not in use
services-claims = Information the service receives
services-claims-hint = Only what the national catalogue allows is offered. The service gets only what it asks for and you approve.
services-no-claims = This service receives no information about users.
services-claims-refused = The catalogue no longer allows some of this information. Check the choices and save again.
services-activate = Take into use
services-save = Save
services-deactivate = Stop using
services-back = Back to the services
notice-service-activated = The service is in use at this school.
notice-service-deactivated = The service is no longer in use at this school.
claim-profile = Name
claim-email = Email address
claim-school-code = School code
claim-municipality-code = Municipality code
claim-class = Class or group
claim-class-level = Class level
claim-role = Role at school
claim-roster-core = Read the school roster (OneRoster: classes, pupils and staff, enrollments)
audit-title = Audit log of connected services
audit-intro = Every login to a connected service and every piece of information given to one, newest first.
audit-none = Nothing has been given to connected services yet.
audit-when = When
audit-event = What
audit-event-grant = Login approved
audit-event-token = Token issued
audit-event-userinfo = Information given
audit-event-upstream-login = Logged in through the municipality's provider
audit-event-roster-token = Roster access granted
audit-event-roster-read = Roster read
audit-records = { $count ->
    [one] one record
   *[other] { $count } records
}
audit-no-user = the service itself
audit-event-lti-launch = LTI tool opened
audit-event-lti-token = LTI service token issued
audit-event-lti-score = LTI score received
audit-event-lti-roster = LTI class members given
audit-event-lti-content = LTI content added as an assignment
audit-user = User
audit-service = Service
audit-claims = Information
audit-older = Older entries

## A group's tools
class-tools = Tools of this group
class-tools-none = No tools are placed in this group.
class-tools-remove = Remove “{ $name }” from this group
class-tools-choose = Tool to place in this group
class-tools-place = Place the tool
notice-tool-placed = The tool is placed in the group.
notice-tool-removed = The tool is removed from the group.

service-login-refused-title = Login to a service refused
service-login-back-home = Back to the home page
service-login-too-long = The login request from the service is too long.
service-login-malformed = The login request from the service is malformed.
service-login-no-client = The login request does not name the service.
service-login-failed = The school server failed. Try again.
service-login-unknown = This service is not in the catalogue of services that may log in with the school's login.
service-login-redirect = The service asked to return to an address it has not registered, so the login stops here.
service-login-bad-address = The service's registered address is not valid. Ask the service's provider.
service-deep-link-refused = The tool's answer could not be accepted, so nothing was added. Try picking the content again.
tool-opening = Opening the tool
tool-continue = Continue

## The week's timetable
nav-timetable = Timetable
pupil-choice-label = Children
week-title = Timetable, week { $number }
week-title-of = { $name }: timetable, week { $number }
week-links-label = Weeks
week-previous = Previous week ({ $number })
week-next = Next week ({ $number })
week-this = This week
week-no-lessons = No lessons this week.
week-today = (today)
week-day-no-lessons = No lessons.
week-lessons-of-day = Lessons: { $date }
week-column-class = Class
week-column-subject = Subject
week-due-heading = Work due
week-due-at = { $class }, { $time }
week-invalid-title = No such week
week-invalid = Write the week as year-W-week, for example 2026-W05. A year has 52 or 53 weeks.
week-invalid-back = Show this week's timetable
weekday-monday = Monday
weekday-tuesday = Tuesday
weekday-wednesday = Wednesday
weekday-thursday = Thursday
weekday-friday = Friday
weekday-saturday = Saturday
weekday-sunday = Sunday
home-week-link = The whole week's timetable

## My work
nav-my-work = My work
nav-childrens-work = Children's work
work-title = My work
work-title-of = Work: { $name }
work-grades-link = All grades and feedback
work-late-heading = Late
work-late-none = Nothing is late.
work-to-do-heading = To do
work-to-do-none = Nothing to do right now.
work-submitted-heading = Waiting for the teacher
work-submitted-none = Nothing handed in is waiting for the teacher.
work-returned-heading = Returned with feedback
work-returned-none = No feedback yet.
work-was-due = Was due { $when }.
work-may-resubmit = It may be handed in again.
work-partial = You see only the work in the classes you teach.
work-older = Only the newest { $count } assignments of these classes are shown: { $names }.
work-nobody = This page shows a pupil's own work. You have no work of your own and no children at this school.
home-all-work = All my work
home-child-week = Timetable: { $name }
home-child-work = Work: { $name }

## Grades and feedback
grades-title = Grades and feedback
grades-title-of = Grades and feedback: { $name }
grades-none = No grades or feedback yet.
grades-given-by = { $name }, { $when }
home-grades = My grades and feedback
home-child-grades = Grades and feedback: { $name }
