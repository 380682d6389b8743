# Writes OUT, a C++ source defining `const std::string_view NAME` in namespace vg::embedded
# with the contents of IN (a text file), so the binary serves the file it was built with.
# Used for docs/openapi.json (src/api/CMakeLists.txt).
file(READ ${IN} text)
string(FIND "${text}" ")vg_embedded\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} holds the raw-string delimiter )vg_embedded\"")
endif()
file(WRITE ${OUT}.tmp "// Generated from ${IN} by cmake/embed_text.cmake: do not edit.\n#include <string_view>\nnamespace vg::embedded {\nextern const std::string_view ${NAME};\nconst std::string_view ${NAME} = R\"vg_embedded(${text})vg_embedded\";\n}  // namespace vg::embedded\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
