# DigiOne webbgränssnitt, svenska. Varje nyckel måste finnas på fi, sv och en och användas av
# node/src/web (kontrolleras av node/tests/web_i18n.rs).

## Ramen på varje sida
skip-to-content = Hoppa till innehållet
nav-main-label = Huvudmeny
nav-home = Startsida
nav-log-out = Logga ut
nav-language-label = Språk
footer-accessibility = Tillgänglighetsutlåtande
offline-banner = { $count ->
    [0] Skolan har ingen nätförbindelse just nu. Du kan fortsätta arbeta: allt sparas här i skolan.
    [one] Skolan har ingen nätförbindelse just nu. Du kan fortsätta arbeta: 1 ändring väntar här i skolan och skickas när förbindelsen är tillbaka.
   *[other] Skolan har ingen nätförbindelse just nu. Du kan fortsätta arbeta: { $count } ändringar väntar här i skolan och skickas när förbindelsen är tillbaka.
}
form-errors-title = Rätta först det här
error-too-long = Det här är för långt: högst { $max } tecken.
error-missing = Detta behövs.
error-not-valid = Detta är inte giltigt. Kontrollera det och försök igen.

## Fel
error-back-home = Tillbaka till startsidan
error-not-found-title = Sidan finns inte
error-not-found = Här finns ingenting. Länken kan vara gammal.
error-forbidden-title = Inte tillåtet
error-forbidden = Du har inte tillgång till den här sidan.
error-conflict-title = Det här går inte nu
error-conflict = Det här går inte nu, till exempel för att tidsfristen har gått ut eller arbetet redan har lämnats in.
error-too-large-title = För stort
error-too-large = Det du skickade är för stort.
error-file-too-large = Filen är för stor.
error-too-many-title = För många försök
error-too-many = Du har försökt för många gånger. Vänta en stund och försök igen.
error-bad-request-title = Något var fel
error-bad-request = Skolans server kunde inte ta emot det här. Kontrollera det du skrev och försök igen.
error-internal-title = Något gick fel
error-internal = Skolans server fick ett problem. Försök igen om en stund.

## Inloggning
login-title = Logga in
login-intro = Logga in med skolans användarnamn och lösenord.
login-username = Användarnamn
login-password = Lösenord
login-submit = Logga in
login-username-missing = Skriv ditt användarnamn.
login-password-missing = Skriv ditt lösenord.
login-invalid = Användarnamnet eller lösenordet är fel.
login-throttled = För många felaktiga försök. Försök igen om { $seconds } sekunder.
login-busy = Skolans server är upptagen. Försök igen om en stund.
login-again = Tjänsten ber dig logga in igen innan du fortsätter.
login-upstream = Logga in med { $provider }
login-upstream-or = Eller logga in med skolans användarnamn och lösenord.
login-upstream-unreachable = { $provider } kan inte nås just nu. Logga in med skolans användarnamn och lösenord.
login-upstream-refused = { $provider } loggade inte in dig. Försök igen, eller logga in med skolans användarnamn och lösenord.
login-upstream-not-started = Inloggningen tog för lång tid eller påbörjades någon annanstans. Börja om.
login-upstream-invalid = Svaret från { $provider } kunde inte verifieras. Försök igen, eller logga in med skolans användarnamn och lösenord.
login-upstream-missing-claim = { $provider } berättade inte vem du är. Kontakta skolans IT-stöd.
login-upstream-other-school = Ditt { $provider }-konto hör inte till den här skolan.
login-upstream-no-user = Ditt { $provider }-konto är inte kopplat till en användare i den här skolan. Kontakta skolans IT-stöd.

## Startsida
home-title = Startsida
home-greeting = Hej, { $name }!
home-today = Dagens lektioner
home-no-lessons = Inga lektioner i dag.
lesson-time = Tid
lesson-class = Lektion
lesson-room = Klassrum
lesson-teacher = Lärare
home-assignments-due = Uppgifter att göra
home-nothing-due = Inget att lämna in just nu.
home-feedback = Respons till dig
home-to-review = Inlämningar att granska
home-nothing-to-review = Inga inlämningar väntar.
home-waiting-count = { $count ->
    [one] 1 väntar på granskning
   *[other] { $count } väntar på granskning
}
home-my-classes = Mina grupper
home-new-assignment = Ny uppgift för { $class }
home-children = Mina barn
home-unread-messages = Olästa meddelanden
home-no-unread = Inga olästa meddelanden.
home-unread-from = { $count ->
    [one] 1 nytt, senast från { $name }
   *[other] { $count } nya, senast från { $name }
}
home-announcements = Anslag
home-no-announcements = Inga anslag.

## Skolans IT
admin-node = Skolans server
admin-school = Skolkod
admin-sync = Förbindelse till DigiOne
admin-sync-in-sync = Ansluten, synkroniserad
admin-sync-sending = Ansluten, skolans ändringar skickas
admin-sync-reconciling = Ansluten, uppgifterna stäms av: allt är inte synkroniserat ännu
admin-sync-reconciling-count = { $count ->
    [one] Ansluten, uppgifterna stäms av: 1 dokument återstår att ta emot
   *[other] Ansluten, uppgifterna stäms av: { $count } dokument återstår att ta emot
}
admin-sync-offline = Ingen förbindelse
admin-sync-standalone = Inte ansluten (fristående)
admin-waiting = Ändringar / filer som väntar på att skickas
admin-last-sync = Senaste fullständiga synkronisering
admin-never = Aldrig
admin-users = Användare
admin-classes = Grupper

## Uppgifter
assignment-due = Ska lämnas in { $when }
assignment-grade = Vitsord: { $grade }
assignment-open-in-tool = Öppna uppgiften i verktyget
assignment-instructions = Instruktioner
assignment-no-instructions = Inga instruktioner.
assignment-attachments = Bifogade filer
assignment-my-work = Mitt arbete
assignment-status = Status: { $status }
assignment-tool-score = Poäng från verktyget: { $score }
assignment-draft-files = Filer i mitt utkast
assignment-attempts = Inlämnat
assignment-pupils = Elever
status-not-submitted = inte inlämnat
status-submitted = inlämnat, väntar på läraren
status-returned = returnerat med respons
attempt-title = Inlämning { $number }
attempt-submitted-at = Inlämnat { $when }
attempt-late = Försenat
feedback-title = Respons
submission-text = Ditt svar
submission-file = Lägg till en fil
submission-file-hint = Frivilligt. En fil åt gången; den sparas med ditt arbete.
submission-submit = Lämna in
submission-save-draft = Spara utkast
submission-empty = Skriv ett svar eller lägg till en fil innan du lämnar in.
submission-closed = Inlämningen är stängd för den här uppgiften.
column-pupil = Elev
column-status = Status
column-submitted = Inlämnat
column-grade = Vitsord
notice-draft-saved = Ditt utkast är sparat.
notice-submitted = Ditt arbete är inlämnat.
notice-returned = Arbetet är returnerat till eleven.
notice-created = Uppgiften är skapad.
notice-linked = Innehållet du valde i verktyget har lagts till som uppgifter för gruppen. Det här är den första av dem.

## Skapa en uppgift
new-assignment-title = Ny uppgift för { $class }
new-assignment-name = Rubrik
new-assignment-name-missing = Ge uppgiften en rubrik.
new-assignment-instructions = Instruktioner
new-assignment-due-date = Inlämningsdag
new-assignment-due-date-hint = Till exempel 2026-12-04.
new-assignment-due-date-invalid = Skriv dagen som år-månad-dag, till exempel 2026-12-04.
new-assignment-due-time = Klockslag
new-assignment-due-time-hint = Till exempel 16:00.
new-assignment-pick-content = Välj innehåll från ett verktyg
new-assignment-pick-content-hint = Välj uppgifter i ett LTI-verktyg som placerats i klassen; varje val blir en uppgift som öppnas i verktyget.
new-assignment-due-time-invalid = Skriv tiden som timmar:minuter, till exempel 16:00.
new-assignment-due-in-past = Inlämningsdagen måste vara i framtiden.
new-assignment-create = Skapa uppgift

## Granskning
review-title = { $pupil }: { $assignment }
review-back = Tillbaka till uppgiften
review-nothing-submitted = Ingenting har lämnats in ännu.
review-return-heading = Returnera med respons
review-feedback = Respons
review-feedback-missing = Skriv respons innan du returnerar.
review-grade = Vitsord
review-grade-hint = Frivilligt, högst 20 tecken.
review-allow-resubmission = Eleven får lämna in på nytt
review-return = Returnera till eleven

## Meddelanden
nav-messages = Meddelanden
messages-title = Meddelanden
messages-none = Inga meddelanden ännu.
messages-unread-count = { $count ->
    [one] 1 oläst
   *[other] { $count } olästa
}
messages-participants = Deltar: { $names }
message-reply = Ditt svar
message-send = Skicka
message-body-missing = Skriv ett meddelande innan du skickar.
message-full = Den här konversationen är full; börja en ny.
message-mark-read = Markera som läst
notice-sent = Ditt meddelande är skickat.

## Närvaro
lesson-mark-attendance = Markera närvaro
attendance-title = Närvaro: { $class }, { $date } kl. { $time }
attendance-present = Närvarande
attendance-absent = Frånvarande
attendance-late = Försenad
attendance-save = Spara närvaro
notice-marked = Närvaron är sparad.

## Import av elevregistret
admin-import-roster = Importera elevregistret
roster-title = Importera elevregistret
roster-intro = Ladda upp skolans OneRoster 1.2-CSV-filer från elevregistret. Hela paketet kontrolleras först; om något är fel ändras ingenting och varje problem listas.
roster-files = Registerfiler (CSV)
roster-files-hint = Välj CSV-filerna på en gång: manifest.csv, orgs.csv, users.csv, classes.csv och de andra.
roster-files-missing = Välj registrets CSV-filer.
roster-invalid = Paketet importerades inte; ingenting ändrades. Rätta problemen och försök igen.
roster-more-problems = …och { $count } problem till.
roster-import = Importera
notice-imported = Elevregistret är importerat.

## Tillgänglighetsutlåtande
statement-title = Tillgänglighetsutlåtande
statement-intro = Detta utlåtande gäller webbtjänsten DigiOne som din skolas server erbjuder. Lagen om tillhandahållande av digitala tjänster (306/2019) kräver det.
statement-status-heading = Tjänstens tillgänglighet
statement-status = Tjänsten strävar efter att uppfylla kriterierna i WCAG 2.1 AA. Varje sida kontrolleras automatiskt för etiketter, rubriker, områden, språk och färgkontrast och testas i en riktig webbläsare.
statement-how-heading = Vad vi har gjort
statement-how-keyboard = Allt fungerar med tangentbordet, och fokus syns alltid.
statement-how-no-script = Sidorna fungerar utan JavaScript och på gamla enheter.
statement-how-languages = Tjänsten finns på finska, svenska och engelska; språket kan bytas på varje sida.
statement-how-contrast = Text och bakgrund har ett kontrastförhållande på minst 4,5:1.
statement-gaps-heading = Kända brister
statement-gaps = Filer som lärare och elever laddar upp (dokument, bilder) är inte nödvändigtvis tillgängliga. En del av tjänsten (frånvaroanmälningar, material, att börja en ny konversation) finns ännu bara för appar via skolserverns gränssnitt.
statement-feedback-heading = Respons
statement-feedback = Om du märker ett tillgänglighetsproblem, berätta det för skolans IT-stöd eller din lärare. Skolan ska svara inom 14 dagar.
statement-supervision = Om du inte är nöjd med svaret kan du kontakta tillsynsmyndigheten, Regionförvaltningsverket i Södra Finland (saavutettavuusvaatimukset.fi).

## Anslag
nav-announcements = Anslag
announcements-title = Anslag
announcements-whole-school = Hela skolan
announcements-municipality = Kommun { $code }
announcements-shown-until-at = visas till { $when }
announcements-withdraw = Ta bort ”{ $title }”
announcements-publish = Publicera ett anslag
announcements-audience = Till vem
announcements-audience-invalid = Välj vem anslaget är till.
announcements-title-field = Rubrik
announcements-title-missing = Skriv en rubrik.
announcements-body = Anslag
announcements-body-missing = Skriv anslaget.
announcements-shown-until = Visas till
announcements-shown-until-hint = Frivilligt. Anslaget försvinner efter den här dagen.
announcements-shown-until-invalid = Ange datumet som en dag i kalendern.
announcements-shown-until-past = Den här dagen är redan slut.
announcements-publish-button = Publicera
notice-published = Anslaget är publicerat.
notice-withdrawn = Anslaget är borttaget.

## Nytt meddelande
new-message-title = Nytt meddelande
new-message-to = Till
new-message-choose = Välj en person
new-message-to-missing = Välj vem du skriver till.
new-message-to-refused = Du kan inte skicka ett meddelande till den här personen.
new-message-group-pupils = Elever i dina grupper
new-message-group-guardians = Deras vårdnadshavare
new-message-group-teachers = Lärare
new-message-group-adults = Skolans personal
new-message-group-chosen = Vald
new-message-subject = Ämne
new-message-subject-missing = Skriv ett ämne.
new-message-body = Meddelande

## Frånvaro
home-absences-to-clear = { $count ->
    [0] { $name }: ingen frånvaro att förklara
    [one] { $name }: 1 frånvaro att förklara
   *[other] { $name }: { $count } frånvaron att förklara
}
absences-title = Frånvaro: { $name }
absences-hours = { $hours } h
absences-no-year = Läsåret har inte börjat ännu.
absences-total = Frånvaro detta läsår
absences-explained = Förklarad
absences-late = Förseningar
absences-threshold = Frånvaron har nått { $hours } timmar. Skolan kontaktar familjen.
absences-to-clear = Frånvaro att förklara
absences-nothing-to-clear = All frånvaro är förklarad.
absences-explain = Förklara frånvaro
absences-first-date = Första dagen
absences-last-date = Sista dagen
absences-last-date-hint = Lämna tomt för en dag.
absences-reason = Orsak
absences-reason-missing = Skriv orsaken till frånvaron.
absences-date-invalid = Ange datumet som en dag i kalendern.
absences-last-before-first = Den sista dagen kan inte vara före den första.
absences-refused = De här dagarna kan inte förklaras: de måste höra till detta läsår, och en förklaring gäller högst { $days } dagar.
absences-explain-button = Förklara
absences-reports = Anmälningar och förklaringar
absences-no-reports = Inga anmälningar ännu.
absences-report-cleared = Kvitterad.
absences-report-open = Inte kvitterad ännu.
absences-clear-report = Kvittera anmälan för { $dates }
absences-all = All frånvaro och alla förseningar
absences-none = Ingen frånvaro detta läsår.
absences-date = Datum
absences-class = Lektion
absences-kind = Slag
absences-state = Förklarad
absences-state-explained = Förklarad
absences-state-open = Inte förklarad
notice-explained = Frånvaron är förklarad.
notice-cleared = Anmälan är kvitterad.

## Material
home-class-materials = Material för { $class }
materials-title = Material: { $class }
materials-none = Inget material ännu.
materials-link = Länk
materials-remove = Ta bort ”{ $title }”
materials-share = Dela material
materials-title-field = Rubrik
materials-title-missing = Skriv en rubrik.
materials-url = Länkens adress
materials-url-hint = En webbadress som börjar med https://. Dela antingen en länk eller en fil.
materials-url-invalid = Länken måste vara en webbadress som börjar med http:// eller https://.
materials-file = Fil
materials-file-hint = Högst { $size }.
materials-nothing-shared = Ange en länk eller välj en fil.
materials-both-shared = Dela antingen en länk eller en fil, inte båda.
materials-share-button = Dela
notice-shared = Materialet är delat med gruppen.
notice-removed = Materialet är borttaget.

## Användare
admin-users-link = Användare och lösenord
users-title = Användare
users-search = Sök med namn eller användarnamn
users-search-button = Sök
users-count = { $count ->
    [one] 1 användare
   *[other] { $count } användare
}
users-name = Namn
users-username = Användarnamn
users-roles = Roller
users-classes = Grupper
users-state = Inloggning
users-actions = Lösenord
users-enabled = Tillåten
users-disabled = Spärrad
users-set-password = Ange lösenord för { $name }
users-pages = Sidor
users-previous = Föregående sida
users-next = Nästa sida
users-page-of = Sida { $page } av { $pages }
role-pupil = Elev
role-teacher = Lärare
role-guardian = Vårdnadshavare
role-staff = Personal
role-admin = Administratör
password-title = Lösenord för { $name }
password-intro = Ange ett nytt lösenord för { $name } (användarnamn { $username }). Ge det till personen personligen.
password-new = Nytt lösenord
password-hint = Minst { $min } tecken.
password-too-short = Lösenordet måste ha minst { $min } tecken.
password-too-long = Lösenordet är för långt.
password-set = Ange lösenordet
password-back = Tillbaka till användarna
notice-password-set = Lösenordet är angivet.

## Tools
home-tools = Verktyg
home-tool-needs-internet = Behöver internet: öppnas igen när skolans förbindelse är tillbaka.

## Anslutna tjänster (skolans IT)
services-title = Anslutna tjänster
services-intro = Tjänster i den nationella katalogen. En tjänst som tagits i bruk kan logga in skolans användare med deras DigiOne-inloggning och får bara de uppgifter du godkänner.
services-none = Den nationella katalogen har inga tjänster ännu.
services-name = Tjänst
services-provider = Leverantör
services-category = Slag
services-category-own = DigiOnes egen
services-category-common = Gemensam
services-category-optional = Valfri
services-protocol = Anslutning
services-protocol-oidc = Inloggning (OpenID Connect)
services-protocol-lti = Lärverktyg (LTI 1.3)
services-protocol-link = Länk
services-offline = Fungerar utan nät
services-yes = Ja
services-no = Nej
services-launch = Öppnas på
services-state = I den här skolan
services-active = I bruk
services-active-since = I bruk sedan { $when }
services-inactive = Inte i bruk
services-claims = Uppgifter som tjänsten får
services-claims-hint = Bara det som den nationella katalogen tillåter erbjuds. Tjänsten får bara det den ber om och du godkänner.
services-no-claims = Den här tjänsten får inga uppgifter om användarna.
services-claims-refused = Katalogen tillåter inte längre en del av de här uppgifterna. Kontrollera valen och spara igen.
services-activate = Ta i bruk
services-save = Spara
services-deactivate = Sluta använda
services-back = Tillbaka till tjänsterna
notice-service-activated = Tjänsten är i bruk i den här skolan.
notice-service-deactivated = Tjänsten är inte längre i bruk i den här skolan.
claim-profile = Namn
claim-email = E-postadress
claim-school-code = Skolans kod
claim-municipality-code = Kommunens kod
claim-class = Klass eller grupp
claim-class-level = Årskurs
claim-role = Roll i skolan
claim-roster-core = Läsa skolans elev- och gruppuppgifter (OneRoster: grupper, elever och personal, gruppmedlemskap)
audit-title = Logg över anslutna tjänster
audit-intro = Varje inloggning till en ansluten tjänst och varje uppgift som getts till en, nyast först.
audit-none = Inget har ännu getts till anslutna tjänster.
audit-when = När
audit-event = Vad
audit-event-grant = Inloggning godkänd
audit-event-token = Token utfärdad
audit-event-userinfo = Uppgifter givna
audit-event-upstream-login = Loggade in via kommunens inloggningstjänst
audit-event-roster-token = Rätt att läsa gruppuppgifter given
audit-event-roster-read = Gruppuppgifter lästa
audit-records = { $count ->
    [one] en post
   *[other] { $count } poster
}
audit-no-user = tjänsten själv
audit-event-lti-launch = LTI-verktyg öppnat
audit-event-lti-token = LTI-tjänstetoken utfärdad
audit-event-lti-score = LTI-poäng mottagna
audit-event-lti-roster = LTI-gruppens medlemmar givna
audit-event-lti-content = LTI-innehåll tillagt som uppgift
audit-user = Användare
audit-service = Tjänst
audit-claims = Uppgifter
audit-older = Äldre poster

## A group's tools
class-tools = Gruppens verktyg
class-tools-none = Inga verktyg har lagts till i den här gruppen.
class-tools-remove = Ta bort ”{ $name }” från gruppen
class-tools-choose = Verktyg att lägga till i gruppen
class-tools-place = Lägg till verktyget
notice-tool-placed = Verktyget är tillagt i gruppen.
notice-tool-removed = Verktyget är borttaget från gruppen.

service-login-refused-title = Inloggningen till tjänsten nekades
service-login-back-home = Tillbaka till startsidan
service-login-too-long = Tjänstens inloggningsbegäran är för lång.
service-login-malformed = Tjänstens inloggningsbegäran är felaktig.
service-login-no-client = Inloggningsbegäran anger inte vilken tjänst det gäller.
service-login-failed = Skolans server råkade ut för ett fel. Försök igen.
service-login-unknown = Tjänsten finns inte i katalogen över tjänster som man kan logga in på med skolans inloggning.
service-login-redirect = Tjänsten bad om att återvända till en adress som den inte har registrerat, så inloggningen stannar här.
service-login-bad-address = Tjänstens registrerade adress är ogiltig. Kontakta tjänstens leverantör.
service-deep-link-refused = Verktygets svar kunde inte godkännas, så inget lades till. Försök välja innehållet igen.
tool-opening = Verktyget öppnas
tool-continue = Fortsätt

## Veckans schema
nav-timetable = Schema
pupil-choice-label = Barn
week-title = Schema, vecka { $number }
week-title-of = { $name }: schema, vecka { $number }
week-links-label = Veckor
week-previous = Föregående vecka ({ $number })
week-next = Nästa vecka ({ $number })
week-this = Den här veckan
week-no-lessons = Inga lektioner den här veckan.
week-today = (i dag)
week-day-no-lessons = Inga lektioner.
week-lessons-of-day = Lektioner: { $date }
week-column-class = Grupp
week-column-subject = Ämne
week-due-heading = Uppgifter att lämna in
week-due-at = { $class }, kl. { $time }
week-invalid-title = Veckan finns inte
week-invalid = Skriv veckan som år-W-vecka, till exempel 2026-W05. Ett år har 52 eller 53 veckor.
week-invalid-back = Visa den här veckans schema
weekday-monday = Måndag
weekday-tuesday = Tisdag
weekday-wednesday = Onsdag
weekday-thursday = Torsdag
weekday-friday = Fredag
weekday-saturday = Lördag
weekday-sunday = Söndag
home-week-link = Hela veckans schema

## Mina uppgifter
nav-my-work = Mina uppgifter
nav-childrens-work = Barnens uppgifter
work-title = Mina uppgifter
work-title-of = Uppgifter: { $name }
work-grades-link = Alla vitsord och all respons
work-late-heading = Försenade
work-late-none = Inga försenade uppgifter.
work-to-do-heading = Att göra
work-to-do-none = Inget att göra just nu.
work-submitted-heading = Väntar på läraren
work-submitted-none = Inget inlämnat arbete väntar på läraren.
work-returned-heading = Returnerade med respons
work-returned-none = Ingen respons ännu.
work-was-due = Skulle ha lämnats in { $when }.
work-may-resubmit = Arbetet får lämnas in på nytt.
work-partial = Du ser bara uppgifterna i de grupper du undervisar.
work-older = Från de här grupperna visas bara de { $count } senaste uppgifterna: { $names }.
work-nobody = Här visas en elevs egna uppgifter. Du har inga egna uppgifter och inga barn i den här skolan.
home-all-work = Alla mina uppgifter
home-child-week = Schema: { $name }
home-child-work = Uppgifter: { $name }

## Vitsord och respons
grades-title = Vitsord och respons
grades-title-of = Vitsord och respons: { $name }
grades-none = Inga vitsord och ingen respons ännu.
grades-given-by = { $name }, { $when }
home-grades = Mina vitsord och min respons
home-child-grades = Vitsord och respons: { $name }
