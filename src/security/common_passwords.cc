// The embedded list of commonly used passwords and their base words
// (482 entries, lower-case, sorted): the top of the widely published
// breach-derived lists, plus words a PACS site would pick (hospital, pacs,
// dicom, radiology, ...). Many are shorter than the minimum length; they are
// here because the policy also checks the password with leading and trailing
// digits and symbols stripped ("Welcome2024!" -> "welcome").
#include "security/common_passwords.h"

#include <algorithm>
#include <array>

namespace bastion::security {
namespace {

constexpr std::array<std::string_view, 482> kCommon = {
    "000000", "1111", "111111", "11111111", "112233", "121212", "121212a", "123123", "123321", "1234",
    "12345", "123456", "1234567", "12345678", "123456789", "1234567890", "123456a", "123456abc", "123456q",
    "12345qwert", "1234qwer", "123654", "123abc", "123qwe", "123qweasd", "131313", "147258369", "159357",
    "159753", "1a2b3c4d", "1q2w3e", "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx", "1qaz2wsx3edc", "1qazxsw2", "2000",
    "555555", "654321", "666666", "696969", "741852963", "777777", "7777777", "987654321", "a1b2c3",
    "a1b2c3d4", "aa123456", "aaaaaa", "abc123", "abc12345", "abc123abc", "abcd1234", "access", "access14",
    "accessdenied", "admin", "admin123", "admin1234", "adminadmin", "administrator", "administrator1",
    "amanda", "amanda1", "america", "andrew", "andrew1", "angel", "angels", "anonymous", "anthony", "apple",
    "apple1", "april", "arsenal", "asdasd", "asdasdasd", "asdf1234", "asdfasdf", "asdfgh", "asdfghjkl",
    "asdfghjkl1", "ashley", "ashley1", "august", "austin", "autumn", "baby", "babygirl", "babylove", "backup",
    "bailey", "banana", "bandit", "barcelona", "baseball", "baseball1", "basketball", "bastion", "batman",
    "batman1", "berlin", "bitcoin", "biteme", "blessed", "bmw", "boston", "buddy", "business", "buster",
    "buster1", "butterfly", "california", "canada", "changeit", "changeme", "charles", "charlie", "charlie1",
    "cheese", "cheese1", "chelsea", "chelsea1", "chicago", "chocolate", "christ", "christopher", "clinic",
    "coffee", "company", "computer", "computer1", "contrasena", "cookie", "cookies", "corvette", "cowboys",
    "crypto", "dallas", "daniel", "daniel1", "david", "december", "default", "demo", "demo123", "diamond",
    "diamonds", "dicom", "doctor", "dollar", "dragon", "dragon1", "eagles", "elizabeth", "emily", "england",
    "example", "facebook", "faith", "family", "february", "ferrari", "florida", "flower", "flowers",
    "football", "football1", "forever", "fortnite", "france", "freedom", "friday", "friends", "frodo",
    "gandalf", "george", "germany", "ginger", "ginger1", "gmail", "god", "gold", "golden", "golf", "golfer",
    "google", "guest", "guest123", "hacker", "hackers", "hal9000", "hannah", "harley", "harley1", "haslo",
    "health", "heather", "hello", "hello123", "hellohello", "helpdesk", "hipaa", "hockey", "hockey1",
    "hogwarts", "honda", "hope", "hospital", "hotmail", "hunter", "hunter1", "iloveu", "iloveyou",
    "iloveyou1", "iloveyou2", "iloveyouforever", "imaging", "instagram", "internet", "ironman", "jack",
    "james", "january", "jennifer", "jennifer1", "jessica", "jessica1", "jesus", "jetaime", "john", "johnny",
    "jordan", "jordan23", "joseph", "joshua", "joshua1", "july", "june", "juventus", "killer", "killer1",
    "killer123", "klaster", "lakers", "lauren", "letmein", "letmein1", "letmein123", "letmein2", "linkedin",
    "liverpool", "lkjhgfdsa", "login", "london", "love", "love123", "lovelove", "lovely", "loveme", "loveyou",
    "lucky", "maggie", "maggie1", "manchester", "march", "mario", "master", "master1", "master123", "matrix",
    "matrix1", "matthew", "matthew1", "max", "may", "medical", "medicine", "melissa", "mercedes", "michael",
    "michael1", "michelle", "microsoft", "minecraft", "mnbvcxz", "mobilemail", "modality", "molly", "mom",
    "monday", "money", "money123", "monitor", "monitoring", "monkey", "monkey1", "montana", "moon",
    "moonlight", "mordor", "morpheus", "moscow", "motdepasse", "mustang", "mustang1", "mylove", "mypassword",
    "naruto", "ncc1701", "neo", "network", "newpassword", "newyork", "nicole", "nicole1", "none", "nothing",
    "november", "null", "nurse", "october", "office", "office365", "oldpassword", "olivia", "orange",
    "orthanc", "p@ssw0rd", "p@ssword", "pa55w0rd", "pa55word", "packers", "pacs", "paris", "parola", "pass",
    "passpass", "passw0rd", "password", "password1", "password12", "password123", "password1234",
    "password12345", "passwordpassword", "passwort", "patient", "pepper", "pepper1", "pizza", "poiuytrewq",
    "pokemon", "porsche", "princess", "princess1", "q1w2e3r4", "q1w2e3r4t5", "qazwsx", "qazwsxedc", "qwe123",
    "qweasdzxc", "qweqwe", "qwerasdf", "qwerty", "qwerty1", "qwerty12", "qwerty123", "qwerty1234",
    "qwertyqwerty", "qwertyui", "qwertyuiop", "qwertyuiop1", "r2d2c3po", "radiologist", "radiology",
    "rainbow", "ranger", "realmadrid", "redsox", "richard", "robert", "robert1", "roblox", "rockstar",
    "rocky", "root", "root123", "rootroot", "salasana", "samantha", "sammy", "sample", "sarah", "scanner",
    "secret", "secret123", "security", "security1", "senha", "september", "server", "service", "shadow",
    "shadow1", "shadow2", "silver", "soccer", "soccer1", "sophie", "sparky", "spiderman", "spring", "star",
    "starlight", "stars", "starwars", "starwars1", "steelers", "stephanie", "summer", "summer1", "sunday",
    "sunflower", "sunshine", "sunshine1", "superman", "superman1", "superstar", "support", "sweetheart",
    "sweety", "system", "taylor", "teamo", "temp1234", "temppassword", "tennis", "test", "test123",
    "test1234", "tester", "testing", "texas", "thomas", "thomas1", "thunder", "thx1138", "tigger", "tigger1",
    "toby", "toor", "toyota", "trinity", "trustme", "trustno1", "twitter", "undefined", "user", "user123",
    "username", "useruser", "wachtwoord", "welcome", "welcome1", "whatever", "william", "windows", "winter",
    "work", "xray", "yahoo", "yamaha", "yankees", "yankees1", "zaq12wsx", "zaq1zaq1", "zelda", "zxcvbn",
    "zxcvbnm", "zxcvbnm1", "zxczxc",
};

constexpr bool Sorted() {
  for (std::size_t i = 1; i < kCommon.size(); ++i)
    if (!(kCommon[i - 1] < kCommon[i])) return false;
  return true;
}
static_assert(Sorted(), "kCommon must stay sorted and free of duplicates (binary search)");

}  // namespace

bool IsCommonPassword(std::string_view lower) {
  return std::binary_search(kCommon.begin(), kCommon.end(), lower);
}

std::size_t CommonPasswordCount() { return kCommon.size(); }

}  // namespace bastion::security
