# The Debian package (`make deb` -> build/voxelgate_VERSION_amd64.deb), made by CPack from
# these install rules. CPack rather than debhelper: it packages the binary and web app this
# build folder already made (dpkg-buildpackage would compile the world again in a clean tree,
# too slow for CI on 2 cores), while dpkg-shlibdeps still derives Depends: from what the
# binary links. Layout: /usr/bin/voxelgate, /usr/share/voxelgate/{web,examples,sbom.cdx.json},
# systemd units in /usr/lib/systemd/system, /etc/voxelgate/voxelgate.toml (a conffile);
# the maintainer scripts (packaging/deb) make the user, /var/lib/voxelgate and the keys.
include(GNUInstallDirs)

install(TARGETS voxelgate RUNTIME DESTINATION bin)
install(FILES ${CMAKE_BINARY_DIR}/sbom.cdx.json DESTINATION share/voxelgate)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/web/dist/ DESTINATION share/voxelgate/web)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION share/voxelgate/examples
        PATTERN "__pycache__" EXCLUDE PATTERN "model.pt" EXCLUDE)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/etc/gateway.toml.example DESTINATION share/voxelgate)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/voxelgate.service ${CMAKE_SOURCE_DIR}/packaging/systemd/voxelgate-worker@.service
              ${CMAKE_SOURCE_DIR}/packaging/systemd/voxelgate-gateway.service
        DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/voxelgate)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION share/doc/voxelgate/docs)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/etc/voxelgate.toml DESTINATION /etc/voxelgate
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME voxelgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "voxelgate maintainers <maintainers@voxelgate.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Licensed, monitored 3D segmentation service for clinics, with a DICOM archive and viewer")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "Licensed, monitored 3D segmentation service for clinics
A vendor's segmentation algorithm as a service for clinics: DICOMweb and DIMSE
archive (encrypted per clinic), browser viewer and segmentation editor, algorithm runs in a
sandbox under a subscription, monitoring, and a hospital gateway.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://voxelgate.invalid")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Beside the libraries it links: bubblewrap runs the algorithms, adduser and util-linux's
# runuser the maintainer scripts.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "bubblewrap, adduser, util-linux")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3, python3-numpy, python3-nibabel")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/deb/postinst ${CMAKE_SOURCE_DIR}/packaging/deb/prerm
    ${CMAKE_SOURCE_DIR}/packaging/deb/postrm ${CMAKE_SOURCE_DIR}/packaging/deb/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
