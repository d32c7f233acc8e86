# DigiOne-verkkokäyttöliittymä, suomi. Jokaisen avaimen on oltava fi-, sv- ja en-tiedostoissa ja
# käytössä node/src/web-koodissa (tarkistaa node/tests/web_i18n.rs).

## Jokaisen sivun kehys
skip-to-content = Siirry sisältöön
nav-main-label = Päävalikko
nav-home = Etusivu
nav-log-out = Kirjaudu ulos
nav-language-label = Kieli
footer-accessibility = Saavutettavuusseloste
offline-banner = { $count ->
    [0] Koulun verkkoyhteys on nyt poikki. Voit jatkaa työskentelyä: kaikki tallentuu tänne koululle.
    [one] Koulun verkkoyhteys on nyt poikki. Voit jatkaa työskentelyä: 1 muutos odottaa koululla ja lähtee, kun yhteys palaa.
   *[other] Koulun verkkoyhteys on nyt poikki. Voit jatkaa työskentelyä: { $count } muutosta odottaa koululla ja lähtee, kun yhteys palaa.
}
form-errors-title = Korjaa nämä ensin
error-too-long = Tämä on liian pitkä: enintään { $max } merkkiä.
error-missing = Tämä tieto tarvitaan.
error-not-valid = Tämä ei kelpaa. Tarkista se ja yritä uudelleen.

## Virheet
error-back-home = Takaisin etusivulle
error-not-found-title = Sivua ei löydy
error-not-found = Täällä ei ole mitään. Linkki voi olla vanha.
error-forbidden-title = Ei sallittu
error-forbidden = Sinulla ei ole pääsyä tälle sivulle.
error-conflict-title = Tätä ei voi tehdä nyt
error-conflict = Tätä ei voi tehdä nyt, esimerkiksi koska määräaika on mennyt tai työ on jo palautettu.
error-too-large-title = Liian suuri
error-too-large = Lähettämäsi tieto on liian suuri.
error-file-too-large = Tiedosto on liian suuri.
error-too-many-title = Liian monta yritystä
error-too-many = Yritit liian monta kertaa. Odota hetki ja yritä uudelleen.
error-bad-request-title = Jokin meni vikaan
error-bad-request = Koulun palvelin ei voinut ottaa tätä vastaan. Tarkista antamasi tiedot ja yritä uudelleen.
error-internal-title = Jokin meni vikaan
error-internal = Koulun palvelimella oli ongelma. Yritä hetken kuluttua uudelleen.

## Kirjautuminen
login-title = Kirjaudu sisään
login-intro = Kirjaudu koulun käyttäjätunnuksella ja salasanalla.
login-username = Käyttäjätunnus
login-password = Salasana
login-submit = Kirjaudu
login-username-missing = Kirjoita käyttäjätunnuksesi.
login-password-missing = Kirjoita salasanasi.
login-invalid = Käyttäjätunnus tai salasana on väärin.
login-throttled = Liian monta väärää yritystä. Yritä uudelleen { $seconds } sekunnin kuluttua.
login-busy = Koulun palvelin on kiireinen. Yritä hetken kuluttua uudelleen.
login-again = Palvelu pyytää sinua kirjautumaan uudelleen ennen kuin jatkat.
login-upstream = Kirjaudu palvelulla { $provider }
login-upstream-or = Tai kirjaudu koulun käyttäjätunnuksella ja salasanalla.
login-upstream-unreachable = Palvelua { $provider } ei tavoiteta nyt. Kirjaudu koulun käyttäjätunnuksella ja salasanalla.
login-upstream-refused = Palvelu { $provider } ei kirjannut sinua sisään. Yritä uudelleen tai kirjaudu koulun käyttäjätunnuksella ja salasanalla.
login-upstream-not-started = Kirjautuminen kesti liian kauan tai aloitettiin muualla. Aloita alusta.
login-upstream-invalid = Palvelun { $provider } vastausta ei voitu varmistaa. Yritä uudelleen tai kirjaudu koulun käyttäjätunnuksella ja salasanalla.
login-upstream-missing-claim = Palvelu { $provider } ei kertonut, kuka olet. Ota yhteyttä koulun IT-tukeen.
login-upstream-other-school = { $provider }-tunnuksesi ei kuulu tähän kouluun.
login-upstream-no-user = { $provider }-tunnustasi ei ole liitetty tämän koulun käyttäjään. Ota yhteyttä koulun IT-tukeen.

## Etusivu
home-title = Etusivu
home-greeting = Hei, { $name }!
home-today = Tämän päivän tunnit
home-no-lessons = Tänään ei ole tunteja.
lesson-time = Aika
lesson-class = Oppitunti
lesson-room = Luokka
lesson-teacher = Opettaja
home-assignments-due = Tehtävät
home-nothing-due = Ei palautettavia tehtäviä juuri nyt.
home-feedback = Palautetta sinulle
home-to-review = Tarkistettavat palautukset
home-nothing-to-review = Palautuksia ei odota.
home-waiting-count = { $count ->
    [one] 1 odottaa tarkistusta
   *[other] { $count } odottaa tarkistusta
}
home-my-classes = Ryhmäni
home-new-assignment = Uusi tehtävä ryhmälle { $class }
home-children = Lapseni
home-unread-messages = Lukemattomat viestit
home-no-unread = Ei lukemattomia viestejä.
home-unread-from = { $count ->
    [one] 1 uusi, viimeisin lähettäjältä { $name }
   *[other] { $count } uutta, viimeisin lähettäjältä { $name }
}
home-announcements = Tiedotteet
home-no-announcements = Ei tiedotteita.

## Koulun IT
admin-node = Koulun palvelin
admin-school = Koulun koodi
admin-sync = Yhteys DigiOneen
admin-sync-in-sync = Yhteydessä, ajan tasalla
admin-sync-sending = Yhteydessä, koulun muutoksia lähetetään
admin-sync-reconciling = Yhteydessä, tietoja täsmäytetään: kaikki ei ole vielä ajan tasalla
admin-sync-reconciling-count = { $count ->
    [one] Yhteydessä, tietoja täsmäytetään: 1 asiakirja on vielä tulossa
   *[other] Yhteydessä, tietoja täsmäytetään: { $count } asiakirjaa on vielä tulossa
}
admin-sync-offline = Ei yhteyttä
admin-sync-standalone = Ei liitetty (itsenäinen)
admin-waiting = Lähettämistä odottavat muutokset / tiedostot
admin-last-sync = Viimeisin täydellinen synkronointi
admin-never = Ei koskaan
admin-users = Käyttäjät
admin-classes = Ryhmät

## Tehtävät
assignment-due = Palautettava { $when }
assignment-grade = Arvosana: { $grade }
assignment-open-in-tool = Avaa tehtävä työkalussa
assignment-instructions = Ohjeet
assignment-no-instructions = Ei ohjeita.
assignment-attachments = Liitetiedostot
assignment-my-work = Oma työni
assignment-status = Tila: { $status }
assignment-tool-score = Työkalun antamat pisteet: { $score }
assignment-draft-files = Luonnokseni tiedostot
assignment-attempts = Palautetut
assignment-pupils = Oppilaat
status-not-submitted = ei palautettu
status-submitted = palautettu, odottaa opettajaa
status-returned = palautettu palautteen kanssa
attempt-title = Palautus { $number }
attempt-submitted-at = Palautettu { $when }
attempt-late = Myöhässä
feedback-title = Palaute
submission-text = Vastauksesi
submission-file = Lisää tiedosto
submission-file-hint = Vapaaehtoinen. Yksi tiedosto kerrallaan; se säilyy työsi mukana.
submission-submit = Palauta
submission-save-draft = Tallenna luonnos
submission-empty = Kirjoita vastaus tai lisää tiedosto ennen palauttamista.
submission-closed = Tämän tehtävän palautus on suljettu.
column-pupil = Oppilas
column-status = Tila
column-submitted = Palautettu
column-grade = Arvosana
notice-draft-saved = Luonnoksesi on tallennettu.
notice-submitted = Työsi on palautettu.
notice-returned = Työ on palautettu oppilaalle.
notice-created = Tehtävä on luotu.
notice-linked = Työkalusta valitsemasi sisältö lisättiin ryhmän tehtäviksi. Tämä on niistä ensimmäinen.

## Tehtävän luominen
new-assignment-title = Uusi tehtävä ryhmälle { $class }
new-assignment-name = Otsikko
new-assignment-name-missing = Anna tehtävälle otsikko.
new-assignment-instructions = Ohjeet
new-assignment-due-date = Palautuspäivä
new-assignment-due-date-hint = Esimerkiksi 2026-12-04.
new-assignment-due-date-invalid = Kirjoita päivä muodossa vuosi-kuukausi-päivä, esimerkiksi 2026-12-04.
new-assignment-due-time = Kellonaika
new-assignment-due-time-hint = Esimerkiksi 16:00.
new-assignment-pick-content = Valitse sisältöä työkalusta
new-assignment-pick-content-hint = Valitse tehtäviä luokkaan sijoitetusta LTI-työkalusta; jokaisesta valinnasta tulee tehtävä, joka avataan työkalussa.
new-assignment-due-time-invalid = Kirjoita aika muodossa tunnit:minuutit, esimerkiksi 16:00.
new-assignment-due-in-past = Palautuspäivän on oltava tulevaisuudessa.
new-assignment-create = Luo tehtävä

## Tarkistaminen
review-title = { $pupil }: { $assignment }
review-back = Takaisin tehtävään
review-nothing-submitted = Mitään ei ole vielä palautettu.
review-return-heading = Palauta palautteen kanssa
review-feedback = Palaute
review-feedback-missing = Kirjoita palaute ennen palauttamista.
review-grade = Arvosana
review-grade-hint = Vapaaehtoinen, enintään 20 merkkiä.
review-allow-resubmission = Oppilas saa palauttaa uudelleen
review-return = Palauta oppilaalle

## Viestit
nav-messages = Viestit
messages-title = Viestit
messages-none = Ei vielä viestejä.
messages-unread-count = { $count ->
    [one] 1 lukematon
   *[other] { $count } lukematonta
}
messages-participants = Mukana: { $names }
message-reply = Vastauksesi
message-send = Lähetä
message-body-missing = Kirjoita viesti ennen lähettämistä.
message-full = Tämä keskustelu on täynnä; aloita uusi.
message-mark-read = Merkitse luetuksi
notice-sent = Viestisi on lähetetty.

## Poissaolot
lesson-mark-attendance = Merkitse läsnäolot
attendance-title = Läsnäolot: { $class }, { $date } klo { $time }
attendance-present = Paikalla
attendance-absent = Poissa
attendance-late = Myöhässä
attendance-save = Tallenna läsnäolot
notice-marked = Läsnäolot on tallennettu.

## Oppilashallinnon tiedot
admin-import-roster = Tuo oppilastiedot
roster-title = Tuo oppilastiedot
roster-intro = Lataa koulun OneRoster 1.2 -CSV-tiedostot oppilashallintojärjestelmästä. Koko paketti tarkistetaan ensin; jos jokin on vialla, mikään ei muutu ja jokainen ongelma luetellaan.
roster-files = Oppilastiedostot (CSV)
roster-files-hint = Valitse CSV-tiedostot kerralla: manifest.csv, orgs.csv, users.csv, classes.csv ja muut.
roster-files-missing = Valitse oppilastietojen CSV-tiedostot.
roster-invalid = Pakettia ei tuotu; mikään ei muuttunut. Korjaa nämä ongelmat ja yritä uudelleen.
roster-more-problems = …ja { $count } muuta ongelmaa.
roster-import = Tuo
notice-imported = Oppilastiedot on tuotu.

## Saavutettavuusseloste
statement-title = Saavutettavuusseloste
statement-intro = Tämä seloste koskee DigiOne-verkkopalvelua, jota koulusi palvelin tarjoaa. Laki digitaalisten palvelujen tarjoamisesta (306/2019) edellyttää sitä.
statement-status-heading = Palvelun saavutettavuus
statement-status = Palvelu pyrkii täyttämään WCAG 2.1 AA -kriteerit. Jokainen sivu tarkistetaan automaattisesti nimilappujen, otsikoiden, alueiden, kielen ja värikontrastin osalta ja testataan oikealla selaimella.
statement-how-heading = Mitä olemme tehneet
statement-how-keyboard = Kaikki toimii näppäimistöllä, ja kohdistus näkyy aina.
statement-how-no-script = Sivut toimivat ilman JavaScriptiä ja vanhoilla laitteilla.
statement-how-languages = Palvelu toimii suomeksi, ruotsiksi ja englanniksi; kielen voi vaihtaa jokaisella sivulla.
statement-how-contrast = Tekstin ja taustan kontrastisuhde on vähintään 4,5:1.
statement-gaps-heading = Tunnetut puutteet
statement-gaps = Opettajien ja oppilaiden lataamat tiedostot (asiakirjat, kuvat) eivät välttämättä ole saavutettavia. Osa palvelusta (poissaoloilmoitukset, materiaalit, uuden keskustelun aloittaminen) on vielä käytettävissä vain sovelluksille koulun palvelimen rajapinnan kautta.
statement-feedback-heading = Palaute
statement-feedback = Jos huomaat saavutettavuusongelman, kerro siitä koulusi IT-tuelle tai opettajallesi. Koulun on vastattava 14 päivän kuluessa.
statement-supervision = Jos et ole tyytyväinen vastaukseen, voit ottaa yhteyttä valvontaviranomaiseen, Etelä-Suomen aluehallintovirastoon (saavutettavuusvaatimukset.fi).

## Tiedotteet
nav-announcements = Tiedotteet
announcements-title = Tiedotteet
announcements-whole-school = Koko koulu
announcements-municipality = Kunta { $code }
announcements-shown-until-at = näkyy { $when } asti
announcements-withdraw = Poista tiedote ”{ $title }”
announcements-publish = Julkaise tiedote
announcements-audience = Kenelle
announcements-audience-invalid = Valitse, kenelle tiedote on.
announcements-title-field = Otsikko
announcements-title-missing = Kirjoita otsikko.
announcements-body = Tiedote
announcements-body-missing = Kirjoita tiedote.
announcements-shown-until = Näkyy asti
announcements-shown-until-hint = Vapaaehtoinen. Tiedote katoaa tämän päivän jälkeen.
announcements-shown-until-invalid = Anna päivämäärä kalenterin päivänä.
announcements-shown-until-past = Tämä päivä on jo ohi.
announcements-publish-button = Julkaise
notice-published = Tiedote on julkaistu.
notice-withdrawn = Tiedote on poistettu.

## Uusi viesti
new-message-title = Uusi viesti
new-message-to = Vastaanottaja
new-message-choose = Valitse henkilö
new-message-to-missing = Valitse, kenelle kirjoitat.
new-message-to-refused = Et voi lähettää viestiä tälle henkilölle.
new-message-group-pupils = Ryhmiesi oppilaat
new-message-group-guardians = Heidän huoltajansa
new-message-group-teachers = Opettajat
new-message-group-adults = Koulun henkilökunta
new-message-group-chosen = Valittu
new-message-subject = Aihe
new-message-subject-missing = Kirjoita aihe.
new-message-body = Viesti

## Poissaolot
home-absences-to-clear = { $count ->
    [0] { $name }: ei selvitettäviä poissaoloja
    [one] { $name }: 1 selvitettävä poissaolo
   *[other] { $name }: { $count } selvitettävää poissaoloa
}
absences-title = Poissaolot: { $name }
absences-hours = { $hours } h
absences-no-year = Lukuvuosi ei ole vielä alkanut.
absences-total = Poissaolot tänä lukuvuonna
absences-explained = Selvitetty
absences-late = Myöhästymiset
absences-threshold = Poissaoloja on kertynyt { $hours } tuntia. Koulu ottaa yhteyttä perheeseen.
absences-to-clear = Selvitettävät poissaolot
absences-nothing-to-clear = Kaikki poissaolot on selvitetty.
absences-explain = Selvitä poissaolot
absences-first-date = Ensimmäinen päivä
absences-last-date = Viimeinen päivä
absences-last-date-hint = Jätä tyhjäksi, jos poissaolo kesti yhden päivän.
absences-reason = Syy
absences-reason-missing = Kirjoita poissaolon syy.
absences-date-invalid = Anna päivämäärä kalenterin päivänä.
absences-last-before-first = Viimeinen päivä ei voi olla ennen ensimmäistä.
absences-refused = Näitä päiviä ei voi selvittää: niiden on oltava tällä lukuvuodella, ja yksi selvitys kattaa enintään { $days } päivää.
absences-explain-button = Selvitä
absences-reports = Ilmoitukset ja selvitykset
absences-no-reports = Ei vielä ilmoituksia.
absences-report-cleared = Kuitattu.
absences-report-open = Ei vielä kuitattu.
absences-clear-report = Kuittaa ilmoitus { $dates }
absences-all = Kaikki poissaolot ja myöhästymiset
absences-none = Ei poissaoloja tänä lukuvuonna.
absences-date = Päivä
absences-class = Oppitunti
absences-kind = Laji
absences-state = Selvitetty
absences-state-explained = Selvitetty
absences-state-open = Selvittämättä
notice-explained = Poissaolot on selvitetty.
notice-cleared = Ilmoitus on kuitattu.

## Materiaalit
home-class-materials = Materiaalit: { $class }
materials-title = Materiaalit: { $class }
materials-none = Ei vielä materiaaleja.
materials-link = Linkki
materials-remove = Poista ”{ $title }”
materials-share = Jaa materiaalia
materials-title-field = Otsikko
materials-title-missing = Kirjoita otsikko.
materials-url = Linkin osoite
materials-url-hint = Verkko-osoite, joka alkaa https://. Jaa joko linkki tai tiedosto.
materials-url-invalid = Linkin on oltava verkko-osoite, joka alkaa http:// tai https://.
materials-file = Tiedosto
materials-file-hint = Enintään { $size }.
materials-nothing-shared = Anna linkki tai valitse tiedosto.
materials-both-shared = Jaa joko linkki tai tiedosto, ei molempia.
materials-share-button = Jaa
notice-shared = Materiaali on jaettu ryhmälle.
notice-removed = Materiaali on poistettu.

## Käyttäjät
admin-users-link = Käyttäjät ja salasanat
users-title = Käyttäjät
users-search = Hae nimellä tai käyttäjätunnuksella
users-search-button = Hae
users-count = { $count ->
    [one] 1 käyttäjä
   *[other] { $count } käyttäjää
}
users-name = Nimi
users-username = Käyttäjätunnus
users-roles = Roolit
users-classes = Ryhmät
users-state = Kirjautuminen
users-actions = Salasana
users-enabled = Sallittu
users-disabled = Estetty
users-set-password = Aseta salasana: { $name }
users-pages = Sivut
users-previous = Edellinen sivu
users-next = Seuraava sivu
users-page-of = Sivu { $page } / { $pages }
role-pupil = Oppilas
role-teacher = Opettaja
role-guardian = Huoltaja
role-staff = Henkilökunta
role-admin = Ylläpitäjä
password-title = Salasana: { $name }
password-intro = Aseta uusi salasana käyttäjälle { $name } (käyttäjätunnus { $username }). Anna se hänelle henkilökohtaisesti.
password-new = Uusi salasana
password-hint = Vähintään { $min } merkkiä.
password-too-short = Salasanassa on oltava vähintään { $min } merkkiä.
password-too-long = Salasana on liian pitkä.
password-set = Aseta salasana
password-back = Takaisin käyttäjiin
notice-password-set = Salasana on asetettu.

## Tools
home-tools = Työkalut
home-tool-needs-internet = Tarvitsee internetin: aukeaa taas, kun koulun yhteys palaa.

## Liitetyt palvelut (koulun IT)
services-title = Liitetyt palvelut
services-intro = Kansallisen luettelon palvelut. Käyttöön otettu palvelu voi kirjata koulusi käyttäjät sisään heidän DigiOne-tunnuksillaan ja saa vain ne tiedot, jotka hyväksyt.
services-none = Kansallisessa luettelossa ei ole vielä palveluita.
services-name = Palvelu
services-provider = Tarjoaja
services-category = Laji
services-category-own = DigiOnen oma
services-category-common = Yhteinen
services-category-optional = Valinnainen
services-protocol = Liitäntä
services-protocol-oidc = Kirjautuminen (OpenID Connect)
services-protocol-lti = Oppimistyökalu (LTI 1.3)
services-protocol-link = Linkki
services-offline = Toimii ilman verkkoa
services-yes = Kyllä
services-no = Ei
services-launch = Avautuu osoitteessa
services-state = Tässä koulussa
services-active = Käytössä
services-active-since = Käytössä { $when } alkaen
services-inactive = Ei käytössä
services-claims = Tiedot, jotka palvelu saa
services-claims-hint = Tarjolla on vain se, minkä kansallinen luettelo sallii. Palvelu saa vain sen, mitä se pyytää ja minkä hyväksyt.
services-no-claims = Tämä palvelu ei saa käyttäjistä tietoja.
services-claims-refused = Luettelo ei enää salli osaa näistä tiedoista. Tarkista valinnat ja tallenna uudelleen.
services-activate = Ota käyttöön
services-save = Tallenna
services-deactivate = Poista käytöstä
services-back = Takaisin palveluihin
notice-service-activated = Palvelu on käytössä tässä koulussa.
notice-service-deactivated = Palvelu ei ole enää käytössä tässä koulussa.
claim-profile = Nimi
claim-email = Sähköpostiosoite
claim-school-code = Koulun koodi
claim-municipality-code = Kunnan koodi
claim-class = Luokka tai ryhmä
claim-class-level = Luokka-aste
claim-role = Rooli koulussa
claim-roster-core = Koulun oppilas- ja ryhmätietojen luku (OneRoster: ryhmät, oppilaat ja henkilökunta, ryhmäjäsenyydet)
audit-title = Liitettyjen palveluiden lokitiedot
audit-intro = Jokainen kirjautuminen liitettyyn palveluun ja jokainen sille annettu tieto, uusin ensin.
audit-none = Liitetyille palveluille ei ole vielä annettu mitään.
audit-when = Milloin
audit-event = Mitä
audit-event-grant = Kirjautuminen hyväksytty
audit-event-token = Tunniste annettu
audit-event-userinfo = Tiedot annettu
audit-event-upstream-login = Kirjautui kunnan tunnistuspalvelun kautta
audit-event-roster-token = Oikeus lukea ryhmätiedot annettu
audit-event-roster-read = Ryhmätiedot luettu
audit-records = { $count ->
    [one] yksi tietue
   *[other] { $count } tietuetta
}
audit-no-user = palvelu itse
audit-event-lti-launch = LTI-työkalu avattu
audit-event-lti-token = LTI-palvelutunniste annettu
audit-event-lti-score = LTI-pisteet vastaanotettu
audit-event-lti-roster = LTI-ryhmän jäsenet annettu
audit-event-lti-content = LTI-sisältö lisätty tehtäväksi
audit-user = Käyttäjä
audit-service = Palvelu
audit-claims = Tiedot
audit-older = Vanhemmat merkinnät

## A group's tools
class-tools = Ryhmän työkalut
class-tools-none = Tähän ryhmään ei ole lisätty työkaluja.
class-tools-remove = Poista ”{ $name }” tästä ryhmästä
class-tools-choose = Ryhmään lisättävä työkalu
class-tools-place = Lisää työkalu
notice-tool-placed = Työkalu on lisätty ryhmään.
notice-tool-removed = Työkalu on poistettu ryhmästä.

service-login-refused-title = Kirjautuminen palveluun estettiin
service-login-back-home = Takaisin etusivulle
service-login-too-long = Palvelun kirjautumispyyntö on liian pitkä.
service-login-malformed = Palvelun kirjautumispyyntö on virheellinen.
service-login-no-client = Kirjautumispyyntö ei kerro, mistä palvelusta on kyse.
service-login-failed = Koulun palvelimella tapahtui virhe. Yritä uudelleen.
service-login-unknown = Tämä palvelu ei ole niiden palvelujen luettelossa, joihin voi kirjautua koulun tunnuksilla.
service-login-redirect = Palvelu pyysi palaamaan osoitteeseen, jota se ei ole rekisteröinyt, joten kirjautuminen pysähtyy tähän.
service-login-bad-address = Palvelun rekisteröity osoite ei kelpaa. Ota yhteyttä palvelun tarjoajaan.
service-deep-link-refused = Työkalun vastausta ei voitu hyväksyä, joten mitään ei lisätty. Yritä valita sisältö uudelleen.
tool-opening = Työkalu avautuu
tool-continue = Jatka

## Viikon lukujärjestys
nav-timetable = Lukujärjestys
pupil-choice-label = Lapset
week-title = Lukujärjestys, viikko { $number }
week-title-of = { $name }: lukujärjestys, viikko { $number }
week-links-label = Viikot
week-previous = Edellinen viikko ({ $number })
week-next = Seuraava viikko ({ $number })
week-this = Tämä viikko
week-no-lessons = Tällä viikolla ei ole oppitunteja.
week-today = (tänään)
week-day-no-lessons = Ei oppitunteja.
week-lessons-of-day = Oppitunnit: { $date }
week-column-class = Ryhmä
week-column-subject = Oppiaine
week-due-heading = Palautettavat tehtävät
week-due-at = { $class }, klo { $time }
week-invalid-title = Viikkoa ei löydy
week-invalid = Viikko kirjoitetaan muodossa vuosi-W-viikko, esimerkiksi 2026-W05. Vuodessa on 52 tai 53 viikkoa.
week-invalid-back = Näytä tämän viikon lukujärjestys
weekday-monday = Maanantai
weekday-tuesday = Tiistai
weekday-wednesday = Keskiviikko
weekday-thursday = Torstai
weekday-friday = Perjantai
weekday-saturday = Lauantai
weekday-sunday = Sunnuntai
home-week-link = Koko viikon lukujärjestys

## Omat tehtävät
nav-my-work = Omat tehtävät
nav-childrens-work = Lasten tehtävät
work-title = Omat tehtävät
work-title-of = Tehtävät: { $name }
work-grades-link = Kaikki arvosanat ja palautteet
work-late-heading = Myöhässä
work-late-none = Ei myöhässä olevia tehtäviä.
work-to-do-heading = Tekemättä
work-to-do-none = Ei tekemättömiä tehtäviä.
work-submitted-heading = Odottaa opettajaa
work-submitted-none = Yksikään palautus ei odota opettajaa.
work-returned-heading = Palaute saatu
work-returned-none = Palautetta ei ole vielä tullut.
work-was-due = Määräaika oli { $when }.
work-may-resubmit = Työn saa palauttaa uudelleen.
work-partial = Näet vain opettamiesi ryhmien tehtävät.
work-older = Näistä ryhmistä näkyvät vain uusimmat { $count } tehtävää: { $names }.
work-nobody = Tällä sivulla näkyvät oppilaan omat tehtävät. Sinulla ei ole omia tehtäviä eikä huollettavia tässä koulussa.
home-all-work = Kaikki tehtäväni
home-child-week = Lukujärjestys: { $name }
home-child-work = Tehtävät: { $name }

## Arvosanat ja palautteet
grades-title = Arvosanat ja palautteet
grades-title-of = Arvosanat ja palautteet: { $name }
grades-none = Arvosanoja tai palautetta ei ole vielä annettu.
grades-given-by = { $name }, { $when }
home-grades = Arvosanani ja palautteeni
home-child-grades = Arvosanat ja palautteet: { $name }
