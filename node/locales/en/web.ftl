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
admin-sync-online = Online
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
assignment-instructions = Instructions
assignment-no-instructions = No instructions.
assignment-attachments = Attached files
assignment-my-work = My work
assignment-status = Status: { $status }
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
